"""The change record: who changed what, when, from which request or task, before and after."""
