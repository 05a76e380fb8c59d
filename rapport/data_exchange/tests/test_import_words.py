"""Import errors name what a person typed and what they may type, in Rapport's own words."""

import pytest
from django.core.exceptions import ValidationError

from rapport.data_exchange.importing.contacts import clean_stage


def test_an_unknown_stage_lists_the_stages_by_their_names():
    with pytest.raises(ValidationError) as error:
        clean_stage("Prospectish")
    message = error.value.messages[0]
    assert message.startswith(
        "'Prospectish' is not a lifecycle stage. Use one of: Subscriber, Lead"
    )
    assert "marketing_qualified" not in message


@pytest.mark.parametrize("typed", ["customer", "Customer", "CUSTOMER"])
def test_a_stage_is_read_by_its_key_or_its_name(typed):
    assert clean_stage(typed) == "customer"
