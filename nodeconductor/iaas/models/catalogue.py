"""The catalogue: flavors and images pulled from clouds, and the templates users choose from."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

from nodeconductor.core.models import TimeStampedMixin, UuidMixin

from .cloud import Cloud


class FlavorQuerySet(models.QuerySet):
    """Flavor visibility: whoever sees the cloud sees its flavors."""

    def for_user(self, user):
        """Flavors of clouds the user sees."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(cloud__in=Cloud.objects.for_user(user))


class Flavor(UuidMixin, models.Model):
    """A Nova flavor of one cloud: cores, RAM and disk in MiB."""

    cloud = models.ForeignKey("iaas.Cloud", on_delete=models.CASCADE, related_name="flavors")
    name = models.CharField(max_length=100)
    backend_id = models.CharField(max_length=255)
    cores = models.PositiveIntegerField()
    ram = models.PositiveIntegerField(help_text="MiB")
    disk = models.PositiveIntegerField(help_text="MiB")
    # A flavor that vanished from the cloud while instances still use it is kept, but offered no more.
    is_active = models.BooleanField(default=True)
    # Staff price a flavor (a pull never touches it): with the template's fees it makes an instance's monthly cost.
    monthly_fee = models.DecimalField(
        max_digits=9, decimal_places=3, default=Decimal(0), validators=[MinValueValidator(Decimal(0))],
        help_text="A month of an instance of this flavor, in the CURRENCY setting's currency.",
    )  # fmt: skip

    objects = FlavorQuerySet.as_manager()

    class Meta:
        ordering = ("cloud__name", "cores", "ram", "name")
        constraints = [models.UniqueConstraint(fields=("cloud", "backend_id"), name="iaas_flavor_unique_backend_id")]

    def __str__(self):
        return f"{self.name} ({self.cloud.name})"


class TemplateQuerySet(models.QuerySet):
    """Template visibility: active ones for everybody, all for staff."""

    def for_user(self, user):
        """Active templates for users, all for staff."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(is_active=True)


class Template(UuidMixin, TimeStampedMixin, models.Model):
    """An operating system offer, global to all clouds and mapped to each cloud's images."""

    class OsType(models.TextChoices):
        """Families of operating systems, for icons and licensing."""

        LINUX = "Linux", "Linux"
        WINDOWS = "Windows", "Windows"
        UNIX = "Unix", "Unix"
        OTHER = "Other", "Other"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    icon_url = models.URLField(blank=True)
    os = models.CharField(max_length=100, blank=True)
    os_type = models.CharField(max_length=10, choices=OsType.choices, default=OsType.LINUX)
    is_active = models.BooleanField(default=False)
    sla_level = models.DecimalField(max_digits=6, decimal_places=4, blank=True, null=True)
    setup_fee = models.DecimalField(
        max_digits=9, decimal_places=3, default=Decimal(0), validators=[MinValueValidator(Decimal(0))]
    )
    monthly_fee = models.DecimalField(
        max_digits=9, decimal_places=3, default=Decimal(0), validators=[MinValueValidator(Decimal(0))]
    )

    objects = TemplateQuerySet.as_manager()

    class Meta:
        ordering = ("name",)

    def __str__(self):
        return self.name


class TemplateMapping(models.Model):
    """Links a template to a Glance image id; a pull turns matches into Image rows."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="mappings")
    backend_image_id = models.CharField(max_length=255)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ("template__name", "backend_image_id")
        constraints = [
            models.UniqueConstraint(fields=("template", "backend_image_id"), name="iaas_mapping_unique_image")
        ]

    def __str__(self):
        return f"{self.template.name} -> {self.backend_image_id}"


class Image(UuidMixin, models.Model):
    """A template's image in one cloud, as last pulled (min_disk and min_ram in MiB)."""

    cloud = models.ForeignKey("iaas.Cloud", on_delete=models.CASCADE, related_name="images")
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="images")
    backend_id = models.CharField(max_length=255)
    min_disk = models.PositiveIntegerField(default=0, help_text="MiB")
    min_ram = models.PositiveIntegerField(default=0, help_text="MiB")

    class Meta:
        ordering = ("cloud__name", "template__name")
        constraints = [models.UniqueConstraint(fields=("cloud", "template"), name="iaas_image_unique_cloud_template")]

    def __str__(self):
        return f"{self.template.name} in {self.cloud.name}"


class TemplateLicense(UuidMixin, models.Model):
    """A licence that comes with some templates, with its fees."""

    class Services(models.TextChoices):
        """Service models a licence applies to."""

        IAAS = "IaaS", "IaaS"
        PAAS = "PaaS", "PaaS"
        SAAS = "SaaS", "SaaS"
        BPAAS = "BPaaS", "BPaaS"

    name = models.CharField(max_length=255)
    license_type = models.CharField(max_length=127)
    service_type = models.CharField(max_length=10, choices=Services.choices)
    templates = models.ManyToManyField(Template, related_name="template_licenses", blank=True)
    setup_fee = models.DecimalField(
        max_digits=9, decimal_places=3, default=Decimal(0), validators=[MinValueValidator(Decimal(0))]
    )
    monthly_fee = models.DecimalField(
        max_digits=9, decimal_places=3, default=Decimal(0), validators=[MinValueValidator(Decimal(0))]
    )

    class Meta:
        ordering = ("name",)

    def __str__(self):
        return f"{self.name} ({self.license_type})"


