"""factory_boy factories of core and structure models, shared by every test package."""

import factory
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from nodeconductor.core.models import SshPublicKey, User
from nodeconductor.structure import models as structure


def make_public_key(comment="test@nodeconductor"):
    """A fresh, valid OpenSSH ed25519 public key line."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{line} {comment}"


PASSWORD = "secret-pass-123"


class UserFactory(factory.django.DjangoModelFactory):
    """Users with the password PASSWORD."""

    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    full_name = factory.Faker("name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = False

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        password = kwargs.pop("password", PASSWORD)
        return model_class.objects.create_user(*args, password=password, **kwargs)


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class SshPublicKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SshPublicKey

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"key{n}")
    public_key = factory.LazyFunction(make_public_key)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        key = model_class(*args, **kwargs)
        key.clean()  # derives the fingerprint
        key.save()
        return key


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = structure.Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    abbreviation = factory.Sequence(lambda n: f"C{n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = structure.Project

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class ProjectGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = structure.ProjectGroup
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Group {n}")

    @factory.post_generation
    def projects(obj, create, extracted, **kwargs):  # noqa: N805
        if create and extracted:
            obj.projects.set(extracted)


class CustomerPermissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = structure.CustomerPermission

    customer = factory.SubFactory(CustomerFactory)
    user = factory.SubFactory(UserFactory)
    role = structure.CustomerRole.OWNER


class ProjectPermissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = structure.ProjectPermission

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = structure.ProjectRole.ADMINISTRATOR


class ProjectGroupPermissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = structure.ProjectGroupPermission

    project_group = factory.SubFactory(ProjectGroupFactory)
    user = factory.SubFactory(UserFactory)
    role = structure.ProjectGroupRole.MANAGER
