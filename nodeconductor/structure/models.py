"""Customers own projects; roles on them decide who sees and manages what."""

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef

from nodeconductor.core.models import TimeStampedMixin, UuidMixin


class CustomerRole(models.TextChoices):
    """Roles a user may hold on a customer."""

    OWNER = "owner", "Owner"


class ProjectRole(models.TextChoices):
    """Roles a user may hold on a project: administrators operate instances, managers only read."""

    ADMINISTRATOR = "admin", "Administrator"
    MANAGER = "manager", "Manager"


class ProjectGroupRole(models.TextChoices):
    """Roles a user may hold on a project group."""

    MANAGER = "manager", "Manager"


def _is_anonymous(user):
    """True for users that must see nothing."""
    return user is None or not user.is_authenticated


class CustomerQuerySet(models.QuerySet):
    """Customer visibility per user."""

    def for_user(self, user):
        """Customers the user owns, or holds a role in one of their projects or groups; staff see all."""
        if _is_anonymous(user):
            return self.none()
        if user.is_staff:
            return self
        return self.filter(
            Exists(CustomerPermission.objects.filter(customer=OuterRef("pk"), user=user))
            | Exists(ProjectPermission.objects.filter(project__customer=OuterRef("pk"), user=user))
            | Exists(ProjectGroupPermission.objects.filter(project_group__customer=OuterRef("pk"), user=user))
        )

    def owned_by(self, user):
        """Customers the user may manage: owned ones, or all for staff."""
        if _is_anonymous(user):
            return self.none()
        if user.is_staff:
            return self
        return self.filter(Exists(CustomerPermission.objects.filter(customer=OuterRef("pk"), user=user)))


class Customer(UuidMixin, TimeStampedMixin, models.Model):
    """A company or department: owns projects and cloud accounts."""

    name = models.CharField(max_length=160)
    native_name = models.CharField(max_length=160, blank=True)
    abbreviation = models.CharField(max_length=8, blank=True)
    contact_details = models.TextField(blank=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ("name",)

    def __str__(self):
        return self.name

    def has_owner(self, user):
        """True if the user owns this customer (staff are not owners by this test)."""
        if _is_anonymous(user):
            return False
        return self.permissions.filter(user=user, role=CustomerRole.OWNER).exists()

    def can_manage(self, user):
        """True for staff and owners: they manage the customer's projects, groups and roles."""
        if _is_anonymous(user):
            return False
        return user.is_staff or self.has_owner(user)


class ProjectQuerySet(models.QuerySet):
    """Project visibility per user."""

    def for_user(self, user):
        """Projects the user holds a role in, directly, through a group or as owner of the customer; staff see all."""
        if _is_anonymous(user):
            return self.none()
        if user.is_staff:
            return self
        return self.filter(
            Exists(CustomerPermission.objects.filter(customer=OuterRef("customer"), user=user))
            | Exists(ProjectPermission.objects.filter(project=OuterRef("pk"), user=user))
            | Exists(ProjectGroupPermission.objects.filter(project_group__projects=OuterRef("pk"), user=user))
        )


class Project(UuidMixin, TimeStampedMixin, models.Model):
    """Aggregates and isolates a customer's resources."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ("name",)

    def __str__(self):
        return f"{self.name} ({self.customer.name})"


class ProjectGroupQuerySet(models.QuerySet):
    """Project group visibility per user."""

    def for_user(self, user):
        """Groups of customers the user owns, and groups he manages; staff see all."""
        if _is_anonymous(user):
            return self.none()
        if user.is_staff:
            return self
        return self.filter(
            Exists(CustomerPermission.objects.filter(customer=OuterRef("customer"), user=user))
            | Exists(ProjectGroupPermission.objects.filter(project_group=OuterRef("pk"), user=user))
        )


class ProjectGroup(UuidMixin, TimeStampedMixin, models.Model):
    """A named set of a customer's projects, managed together."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="project_groups")
    name = models.CharField(max_length=80)
    projects = models.ManyToManyField(Project, related_name="project_groups", blank=True)

    objects = ProjectGroupQuerySet.as_manager()

    class Meta:
        ordering = ("name",)

    def __str__(self):
        return f"{self.name} ({self.customer.name})"


class CustomerPermissionQuerySet(models.QuerySet):
    """Customer roles per user: anyone who sees a customer sees who owns it."""

    def for_user(self, user):
        """Roles on customers the user sees; staff see all."""
        if _is_anonymous(user):
            return self.none()
        if user.is_staff:
            return self
        return self.filter(customer__in=Customer.objects.for_user(user))


class CustomerPermission(UuidMixin, TimeStampedMixin, models.Model):
    """A user's role on a customer."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="permissions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_permissions")
    role = models.CharField(max_length=16, choices=CustomerRole.choices, default=CustomerRole.OWNER)

    objects = CustomerPermissionQuerySet.as_manager()

    class Meta:
        ordering = ("customer__name", "user__username")
        constraints = [
            models.UniqueConstraint(fields=("customer", "user", "role"), name="structure_customerpermission_unique")
        ]

    def __str__(self):
        return f"{self.user} is {self.role} of {self.customer}"


class ProjectPermissionQuerySet(models.QuerySet):
    """Project roles per user: anyone who sees a project sees its members."""

    def for_user(self, user):
        """Roles on projects the user sees; staff see all."""
        if _is_anonymous(user):
            return self.none()
        if user.is_staff:
            return self
        return self.filter(project__in=Project.objects.for_user(user))


class ProjectPermission(UuidMixin, TimeStampedMixin, models.Model):
    """A user's role on a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="permissions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_permissions")
    role = models.CharField(max_length=16, choices=ProjectRole.choices)

    objects = ProjectPermissionQuerySet.as_manager()

    class Meta:
        ordering = ("project__name", "user__username")
        constraints = [
            models.UniqueConstraint(fields=("project", "user", "role"), name="structure_projectpermission_unique")
        ]

    def __str__(self):
        return f"{self.user} is {self.role} of {self.project}"


class ProjectGroupPermissionQuerySet(models.QuerySet):
    """Project group roles per user: anyone who sees a group sees its managers."""

    def for_user(self, user):
        """Roles on groups the user sees; staff see all."""
        if _is_anonymous(user):
            return self.none()
        if user.is_staff:
            return self
        return self.filter(project_group__in=ProjectGroup.objects.for_user(user))


class ProjectGroupPermission(UuidMixin, TimeStampedMixin, models.Model):
    """A user's role on a project group."""

    project_group = models.ForeignKey(ProjectGroup, on_delete=models.CASCADE, related_name="permissions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_group_permissions"
    )
    role = models.CharField(max_length=16, choices=ProjectGroupRole.choices, default=ProjectGroupRole.MANAGER)

    objects = ProjectGroupPermissionQuerySet.as_manager()

    class Meta:
        ordering = ("project_group__name", "user__username")
        constraints = [
            models.UniqueConstraint(
                fields=("project_group", "user", "role"), name="structure_projectgrouppermission_unique"
            )
        ]

    def __str__(self):
        return f"{self.user} is {self.role} of {self.project_group}"
