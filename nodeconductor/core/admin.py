"""Admin of users and SSH keys: staff fix accounts here without going through the API."""

from django import forms
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError

from nodeconductor.core.authentication import revoke_tokens
from nodeconductor.core.models import SshPublicKey, User, parse_ssh_public_key


class UserCreationForm(auth_forms.AdminUserCreationForm):
    """Django's creation form bound to our user model instead of auth.User."""

    class Meta(auth_forms.AdminUserCreationForm.Meta):
        model = User
        fields = ("username",)


class UserChangeForm(auth_forms.UserChangeForm):
    """Django's change form (with the link to the password form) bound to our user model."""

    class Meta(auth_forms.UserChangeForm.Meta):
        model = User
        fields = "__all__"


class AdminPasswordChangeForm(auth_forms.AdminPasswordChangeForm):
    """Django's form to set a user's password, which also revokes all his API tokens, as the API does for staff."""

    def save(self, commit=True):
        """Set the password (or disable it) and revoke the user's tokens with it: a new password does so in
        User.save() already, but disabling one (set_unusable_password) sets none."""
        user = super().save(commit)
        if commit:
            revoke_tokens(user)
        return user


class SshPublicKeyForm(forms.ModelForm):
    """Reports a bad key on the key field itself rather than at the top of the page."""

    class Meta:
        model = SshPublicKey
        fields = ("user", "name", "public_key")

    def clean_public_key(self):
        """Validate the key here so the model's clean() only derives the fingerprint."""
        text = (self.cleaned_data.get("public_key") or "").strip()
        try:
            parse_ssh_public_key(text)
        except ValidationError as error:
            raise ValidationError(error.messages)
        return text


class SshPublicKeyInline(admin.TabularInline):
    """Shows a user's keys on his page, so staff see what instances would receive."""

    model = SshPublicKey
    form = SshPublicKeyForm
    fields = ("name", "public_key", "fingerprint")
    readonly_fields = ("fingerprint",)
    extra = 0


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    """Django's user admin (password hashing, change-password form) laid out for our user fields."""

    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    fieldsets = (
        (None, {"fields": ("username", "password", "uuid")}),
        (
            "Personal info",
            {
                "fields": (
                    "full_name",
                    "native_name",
                    "email",
                    "phone_number",
                    "civil_number",
                    "organization",
                    "job_title",
                    "description",
                )
            },
        ),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "usable_password", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("uuid", "last_login", "date_joined")
    list_display = ("username", "full_name", "email", "organization", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("username", "full_name", "native_name", "email", "civil_number", "organization")
    ordering = ("username",)
    inlines = (SshPublicKeyInline,)

    def get_inlines(self, request, obj):
        """Show keys only on an existing user: the add page is the password form alone."""
        return self.inlines if obj is not None else ()


@admin.register(SshPublicKey)
class SshPublicKeyAdmin(admin.ModelAdmin):
    """Keys across users; the fingerprint is derived from the key, so it is never typed in."""

    form = SshPublicKeyForm
    fields = ("user", "name", "public_key", "fingerprint", "uuid")
    readonly_fields = ("fingerprint", "uuid")
    list_display = ("name", "user", "fingerprint")
    list_select_related = ("user",)
    search_fields = ("name", "fingerprint", "user__username", "user__full_name")
    autocomplete_fields = ("user",)
