import io
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db

MODULE = "nodeconductor.core.management.commands.createstaffuser"
GOOD = "Correct-Horse-9"


def run(*args, **env):
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict("os.environ", env):
        call_command("createstaffuser", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def test_creates_staff_superuser_with_given_password():
    out, _ = run("--username", "alice", "--password", GOOD, "--email", "alice@example.com", "--full-name", "Alice A")
    user = get_user_model().objects.get(username="alice")
    assert user.is_staff and user.is_superuser and user.is_active
    assert user.check_password(GOOD)
    assert user.email == "alice@example.com" and user.full_name == "Alice A"
    assert "Created staff user 'alice'" in out
    assert GOOD not in out


def test_password_from_file(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text(GOOD + "\n")
    run("--username", "bob", "--password-file", str(secret))
    assert get_user_model().objects.get(username="bob").check_password(GOOD)


def test_password_from_stdin():
    with mock.patch(f"{MODULE}.sys.stdin", io.StringIO(GOOD + "\n")):
        run("--username", "bob", "--password-file", "-")
    assert get_user_model().objects.get(username="bob").check_password(GOOD)


def test_password_from_environment():
    run("--username", "carol", NODECONDUCTOR_STAFF_PASSWORD=GOOD)
    assert get_user_model().objects.get(username="carol").check_password(GOOD)


def test_generated_password_printed_once():
    out, _ = run("--username", "staff", "--print-password", "--if-missing")
    line = next(line for line in out.splitlines() if line.startswith("Password: "))
    password = line.removeprefix("Password: ")
    assert len(password) >= 16
    assert get_user_model().objects.get(username="staff").check_password(password)

    again, _ = run("--username", "staff", "--print-password", "--if-missing")
    assert "already exists" in again
    assert "Password" not in again and password not in again
    assert get_user_model().objects.get(username="staff").check_password(password)


def test_if_missing_leaves_existing_user_untouched():
    get_user_model().objects.create_user("dave", password=GOOD, email="old@example.com")
    out, _ = run("--username", "dave", "--password", "Other-Pass-77", "--email", "new@example.com", "--if-missing")
    user = get_user_model().objects.get(username="dave")
    assert "already exists; left unchanged" in out
    assert user.check_password(GOOD) and user.email == "old@example.com" and not user.is_staff


def test_existing_user_without_if_missing_is_an_error():
    get_user_model().objects.create_user("erin", password=GOOD)
    with pytest.raises(CommandError, match="already exists.*--if-missing"):
        run("--username", "erin", "--password", GOOD)


def test_missing_username():
    with pytest.raises(CommandError, match="--username"):
        run("--password", GOOD)


def test_missing_password_source():
    with pytest.raises(CommandError, match="--print-password"):
        run("--username", "frank")
    assert not get_user_model().objects.filter(username="frank").exists()


def test_weak_password_rejected_with_validator_messages():
    with pytest.raises(CommandError, match="Password rejected: .*too short"):
        run("--username", "gina", "--password", "abc")
    assert not get_user_model().objects.exists()


def test_skip_validation_accepts_weak_password():
    run("--username", "gina", "--password", "abc", "--skip-validation")
    assert get_user_model().objects.get(username="gina").check_password("abc")


def test_empty_password_file(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("\n")
    with pytest.raises(CommandError, match="empty"):
        run("--username", "hank", "--password-file", str(secret))


def test_unreadable_password_file(tmp_path):
    with pytest.raises(CommandError, match="Cannot read the password file"):
        run("--username", "hank", "--password-file", str(tmp_path / "missing"))


def test_invalid_username_and_email():
    with pytest.raises(CommandError, match="Invalid username"):
        run("--username", "no spaces", "--password", GOOD)
    with pytest.raises(CommandError, match="not a valid email"):
        run("--username", "ivan", "--password", GOOD, "--email", "not-an-email")


def test_password_sources_are_exclusive():
    with pytest.raises(CommandError):
        run("--username", "judy", "--password", GOOD, "--print-password")


def test_interactive_prompts_confirms_and_validates():
    answers = iter(["short", "short", GOOD, "mismatch", GOOD, GOOD])
    with (
        mock.patch(f"{MODULE}.sys.stdin", FakeTty()),
        mock.patch(f"{MODULE}.input", create=True, return_value="kate"),
        mock.patch(f"{MODULE}.getpass.getpass", side_effect=lambda prompt: next(answers)),
    ):
        out, err = run("--interactive")
    assert "too short" in err
    assert "do not match" in err
    assert get_user_model().objects.get(username="kate").check_password(GOOD)
    assert GOOD not in out


def test_interactive_gives_up_after_three_bad_tries():
    with (
        mock.patch(f"{MODULE}.sys.stdin", FakeTty()),
        mock.patch(f"{MODULE}.getpass.getpass", return_value="123"),
    ):
        with pytest.raises(CommandError, match="No acceptable password"):
            run("--interactive", "--username", "leo")
    assert not get_user_model().objects.exists()


def test_interactive_without_terminal_fails_clearly():
    with mock.patch(f"{MODULE}.sys.stdin", io.StringIO("")):
        with pytest.raises(CommandError, match="needs a terminal"):
            run("--interactive", "--username", "mia")
