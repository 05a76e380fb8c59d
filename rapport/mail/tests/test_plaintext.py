from rapport.mail.plaintext import html_to_text


def test_paragraphs_and_line_breaks():
    html = "<p>Hello <b>Anna</b>,</p><p>Line one<br>line two<br/>line three</p>"

    assert html_to_text(html) == "Hello Anna,\n\nLine one\nline two\nline three"


def test_whitespace_collapsed_and_no_trailing_spaces():
    html = "<div>  Many \n\t spaces   here  </div>\n\n<div>next</div>"

    assert html_to_text(html) == "Many spaces here\nnext"


def test_at_most_one_blank_line_in_a_row():
    html = "<p>a</p><br><br><br><br><p></p><div></div><p>b</p>"

    assert html_to_text(html) == "a\n\nb"


def test_lists_as_dashes_nested_and_numbered():
    html = "<ul><li>One</li><li>Two<ul><li>Sub</li></ul></li></ul><ol><li>first</li><li>second</li></ol>"

    assert html_to_text(html) == "- One\n- Two\n  - Sub\n\n1. first\n2. second"


def test_links_show_url_unless_text_is_the_url():
    html = (
        '<p>See <a href="https://example.com/pricing">our prices</a>, '
        '<a href="https://example.com/">https://example.com/</a>, '
        '<a href="mailto:anna@example.com">anna@example.com</a>, '
        '<a href="mailto:sales@example.com?subject=Hi">write to us</a>, '
        '<a href="#top">back up</a>.</p>'
    )

    assert html_to_text(html) == (
        "See our prices (https://example.com/pricing), https://example.com/, anna@example.com, "
        "write to us (sales@example.com), back up."
    )


def test_link_without_text_shows_the_url():
    assert html_to_text('<a href="https://example.com/x"><img src="x.png" alt=""></a>') == (
        "https://example.com/x"
    )


def test_tables_row_by_row():
    html = (
        "<table><tr><th>Product</th><th>Qty</th></tr>"
        "<tr><td>Shoe</td><td>2</td></tr><tr><td>Sock</td><td></td></tr></table>"
    )

    assert html_to_text(html) == "Product | Qty\nShoe | 2\nSock"


def test_layout_tables_do_not_leak_separators():
    html = (
        "<table><tr><td></td><td><table><tr><td><p>Hi Anna</p></td></tr>"
        "<tr><td>Thanks</td></tr></table></td><td></td></tr></table>"
    )

    assert html_to_text(html) == "Hi Anna\n\nThanks"


def test_scripts_styles_and_head_dropped():
    html = (
        "<html><head><title>Newsletter</title><style>p { color: red }</style></head>"
        "<body><script>alert('x')</script><p>Body</p><noscript>enable js</noscript></body></html>"
    )

    assert html_to_text(html) == "Body"


def test_entities_decoded():
    assert html_to_text(
        "<p>&lt;tag&gt; &amp; caf&eacute; &#8364;5&nbsp;&nbsp;off &#39;x&#39;</p>"
    ) == ("<tag> & café €5 off 'x'")


def test_pre_keeps_its_lines():
    assert html_to_text("<p>Code:</p><pre>a  b\n  c</pre>") == "Code:\n\na  b\n  c"


def test_blockquote_prefixed():
    assert html_to_text("<p>Sure.</p><blockquote>On Monday you wrote:<br>hello</blockquote>") == (
        "Sure.\n\n> On Monday you wrote:\n> hello"
    )


def test_blank_line_inside_a_quote_stays_quoted():
    html = "<p>Yes.</p><blockquote><p>first</p><p>second</p><blockquote>older</blockquote></blockquote><p>Bye</p>"

    assert html_to_text(html) == "Yes.\n\n> first\n>\n> second\n>\n> > older\n\nBye"


def test_plain_text_and_empty_input():
    assert html_to_text("") == ""
    assert html_to_text("just text, no tags") == "just text, no tags"


def test_malformed_markup_does_not_raise():
    assert html_to_text("<p>open <b>bold <a href='https://x.example'>link</p></div><li>") == (
        "open bold link (https://x.example)"
    )
