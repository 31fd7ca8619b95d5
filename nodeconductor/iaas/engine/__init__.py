"""The engine: every change to a VM in the cloud is one operation of one table (operation_table.py), run
one step at a time (operations.py), its waits looked at per tenant (poller.py), lost messages and dead workers
resumed (sweeper.py, leases.py), builds capped per cloud (build_slots.py), its progress shown (progress.py), and
its messages sent (messages.py). See docs/guide/engine.rst."""
