"""Create a staff account from scripts (flags, a password file or the environment) or interactively."""

import getpass
import os
import secrets
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core import exceptions
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

PASSWORD_ENV = "NODECONDUCTOR_STAFF_PASSWORD"
MAX_PROMPTS = 3


def _messages(error):
    """Flatten a ValidationError into one line a terminal can show."""
    return " ".join(error.messages)


class Command(BaseCommand):
    """Creates a staff user (staff and superuser) without the email-first prompts of createsuperuser."""

    help = (
        "Create a staff user. Non-interactive by default: give the password with --password, --password-file "
        f"or the {PASSWORD_ENV} environment variable, or let --print-password generate one. "
        "--interactive prompts for whatever is missing."
    )

    def add_arguments(self, parser):
        """Declare the flags scripts and people use."""
        parser.add_argument("--username", help="Login name of the new user (required unless --interactive).")
        parser.add_argument("--email", default="", help="Email address (optional).")
        parser.add_argument("--full-name", default="", help="Full name (optional).")
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--password", help="The password. Visible to other local users in the process list; prefer a file."
        )
        source.add_argument(
            "--password-file", help="Read the password from this file (first line); '-' reads standard input."
        )
        source.add_argument(
            "--print-password",
            action="store_true",
            help="Generate a random password and print it once, on creation only.",
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Do nothing (and succeed) if the user already exists, so scripts can run this on every start.",
        )
        parser.add_argument(
            "--interactive", action="store_true", help="Prompt for the username and password (entered twice)."
        )
        parser.add_argument(
            "--skip-validation",
            action="store_true",
            help="Accept a password the password validators reject (not for production).",
        )

    def handle(self, *args, **options):
        """Validate the input, then create the user, or leave an existing one untouched with --if-missing."""
        User = get_user_model()
        interactive = options["interactive"]
        username = options["username"] or (self._prompt_username() if interactive else None)
        if not username:
            raise CommandError("Give the username with --username (or use --interactive).")
        self._validate_username(User, username)

        if User.objects.filter(username=username).exists():
            if options["if_missing"]:
                # Say nothing about the password: it was shown once, when the user was created.
                self.stdout.write(f"Staff user '{username}' already exists; left unchanged.")
                return
            raise CommandError(f"User '{username}' already exists. Pass --if-missing to accept an existing user.")

        email = options["email"]
        if email:
            try:
                validate_email(email)
            except exceptions.ValidationError:
                raise CommandError(f"'{email}' is not a valid email address.")

        candidate = User(username=username, email=email, full_name=options["full_name"])
        generated = False
        password = self._given_password(options)
        if password is None:
            if options["print_password"]:
                password, generated = secrets.token_urlsafe(15), True
            elif interactive:
                password = self._prompt_password(candidate, options["skip_validation"])
            else:
                raise CommandError(
                    "Give a password with --password, --password-file or the "
                    f"{PASSWORD_ENV} environment variable, pass --print-password to generate one, "
                    "or use --interactive."
                )
        if not generated and not options["skip_validation"]:
            try:
                validate_password(password, candidate)
            except exceptions.ValidationError as error:
                raise CommandError(f"Password rejected: {_messages(error)}")

        user = User.objects.create_staffuser(username, password=password, email=email, full_name=options["full_name"])
        self.stdout.write(self.style.SUCCESS(f"Created staff user '{user.username}'."))
        if generated:
            self.stdout.write(f"Password: {password}")
            self.stdout.write("It is shown only now; change it in the admin or with 'manage.py changepassword'.")

    def _given_password(self, options):
        """Return the password from a flag, a file or the environment, or None when none was given."""
        if options["password"] is not None:
            password = options["password"]
        elif options["password_file"]:
            password = self._read_password_file(options["password_file"])
        elif os.environ.get(PASSWORD_ENV):
            password = os.environ[PASSWORD_ENV]
        else:
            return None
        if not password:
            raise CommandError("The password is empty.")
        return password

    def _read_password_file(self, path):
        """Read the first line of a password file, without its line ending."""
        try:
            if path == "-":
                text = sys.stdin.readline()
            else:
                with open(path, encoding="utf-8") as fh:
                    text = fh.readline()
        except OSError as error:
            raise CommandError(f"Cannot read the password file {path}: {error.strerror}.")
        return text.rstrip("\r\n")

    def _validate_username(self, User, username):
        """Apply the username field's own validators so a bad name fails before anything is asked."""
        field = User._meta.get_field(User.USERNAME_FIELD)
        try:
            field.clean(username, None)
        except exceptions.ValidationError as error:
            raise CommandError(f"Invalid username '{username}': {_messages(error)}")

    def _prompt_username(self):
        """Ask for the username on the terminal."""
        self._require_terminal()
        return input("Username: ").strip()

    def _prompt_password(self, candidate, skip_validation):
        """Ask for the password twice and validate it, giving a few tries before giving up."""
        self._require_terminal()
        for _ in range(MAX_PROMPTS):
            password = getpass.getpass("Password: ")
            if not password:
                self.stderr.write("The password must not be empty.")
                continue
            if getpass.getpass("Password (again): ") != password:
                self.stderr.write("The passwords do not match.")
                continue
            if not skip_validation:
                try:
                    validate_password(password, candidate)
                except exceptions.ValidationError as error:
                    self.stderr.write(f"Password rejected: {_messages(error)}")
                    continue
            return password
        raise CommandError("No acceptable password was entered.")

    def _require_terminal(self):
        """Refuse to prompt when nobody can answer, instead of hanging or reading garbage."""
        if not sys.stdin or not sys.stdin.isatty():
            raise CommandError("--interactive needs a terminal; give --username and a password source instead.")
