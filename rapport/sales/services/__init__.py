"""Every write of the sales app. Views, the API, tasks and the demo call these, nothing else.

Each service validates before writing (a bad field never leaves half a record), runs in one
transaction, leaves a ChangeRecord and emits its event after commit.
"""
