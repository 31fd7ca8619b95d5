"""The application's service functions, one module per resource: what a request (or the admin, or the shell)
asks for, checked and scheduled. None of them calls the cloud: workers do (tasks.py and the *_sync modules)."""
