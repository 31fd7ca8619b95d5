"""Users and SSH keys, and the mixins every model shares."""

import base64
import functools
import hashlib
import uuid

from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMFieldMixin

from nodeconductor.core.authentication import revoke_on_password_change


@functools.cache
def _state_fields(model):
    """A model class's FSM fields, found once: they never change after the app registry is ready."""
    return tuple(f for f in model._meta.fields if isinstance(f, FSMFieldMixin))


class StateMachineMixin(ConcurrentTransitionMixin):
    """django-fsm's optimistic lock (a save from a stale state fails), with the FSM fields found once per class.

    The library filters every field of the model on each row's __init__ to record the states it compares at
    save; a page of 100 instances builds 300 such rows (instance, membership, cloud).
    """

    @property
    def state_fields(self):
        """The FSM fields whose states the optimistic lock records and compares."""
        return _state_fields(type(self))


class UuidMixin(models.Model):
    """Gives a model the public uuid that the API uses for lookups instead of the database id."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True


class TimeStampedMixin(models.Model):
    """Records when a row was created and last changed."""

    created = models.DateTimeField(default=timezone.now, editable=False)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class UserManager(DjangoUserManager):
    """Creates users without the email-first assumptions of Django's default manager."""

    def create_staffuser(self, username, password=None, **extra):
        """Create a staff (and superuser) account, as createstaffuser does."""
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(username, password=password, **extra)


class User(UuidMixin, AbstractBaseUser, PermissionsMixin):
    """A person who logs in; roles on customers and projects decide what he sees."""

    username = models.CharField(
        max_length=128,
        unique=True,
        validators=[RegexValidator(r"^[\w.@+-]+$", "Use letters, digits and @/./+/-/_ only.")],
    )
    full_name = models.CharField(max_length=100, blank=True)
    native_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone_number = models.CharField(max_length=40, blank=True)
    organization = models.CharField(max_length=80, blank=True)
    job_title = models.CharField(max_length=40, blank=True)
    civil_number = models.CharField(max_length=10, unique=True, null=True, blank=True, default=None)
    description = models.TextField(blank=True)
    is_staff = models.BooleanField(default=False, help_text="Staff see and manage everything.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ("username",)

    def __str__(self):
        return self.username

    def clean(self):
        """Store an empty civil number as NULL so uniqueness only binds real numbers."""
        super().clean()
        if not self.civil_number:
            self.civil_number = None

    def save(self, *args, **kwargs):
        """Save; a new password (set_password) also revokes the user's API tokens, whoever set it, so a stolen
        token does not outlive the password it was made with (authentication.keeping spares the request's own)."""
        new_password = self._password is not None and not self._state.adding
        super().save(*args, **kwargs)
        if new_password:
            revoke_on_password_change(self)


SSH_KEY_TYPES = (
    "ssh-rsa",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)


def parse_ssh_public_key(text):
    """Return (key_type, blob) of an OpenSSH public key line, or raise ValidationError saying what is wrong."""
    parts = (text or "").strip().split()
    if len(parts) < 2:
        raise ValidationError("Paste an OpenSSH public key: '<type> <base64 key> [comment]'.")
    key_type, b64 = parts[0], parts[1]
    if key_type not in SSH_KEY_TYPES:
        raise ValidationError(f"Key type '{key_type[:40]}' is not supported; use one of: {', '.join(SSH_KEY_TYPES)}.")
    try:
        blob = base64.b64decode(b64, validate=True)
        load_ssh_public_key(f"{key_type} {b64}".encode())
    except Exception:
        raise ValidationError("The key data is not a valid OpenSSH public key.") from None
    return key_type, blob


class SshPublicKey(UuidMixin, models.Model):
    """A user's public key, pushed to the instances he provisions."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="ssh_keys")
    name = models.CharField(max_length=50)
    public_key = models.TextField(max_length=2000)
    fingerprint = models.CharField(max_length=47, editable=False)

    class Meta:
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=("user", "name"), name="core_sshkey_unique_user_name")]
        verbose_name = "SSH public key"

    def __str__(self):
        return f"{self.name} ({self.fingerprint})"

    def clean(self):
        """Validate the key and derive its MD5 fingerprint, the form OpenStack keypairs show."""
        super().clean()
        self.public_key = (self.public_key or "").strip()
        _, blob = parse_ssh_public_key(self.public_key)
        digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
        self.fingerprint = ":".join(digest[i : i + 2] for i in range(0, 32, 2))
