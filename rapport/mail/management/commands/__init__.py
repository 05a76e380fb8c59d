"""`rapport mailsink`: the local mail sink."""
