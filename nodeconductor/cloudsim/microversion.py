"""Microversion negotiation shared by Nova and Cinder (OpenStack-API-Version and Nova's legacy header)."""

from .core import ApiError


class Version(tuple):
    """A (major, minor) microversion that compares numerically and prints as 'X.Y'."""

    def __new__(cls, text):
        """Parse 'X.Y'."""
        major, minor = str(text).split(".")
        return super().__new__(cls, (int(major), int(minor)))

    def __str__(self):
        return f"{self[0]}.{self[1]}"

    def at_least(self, text):
        """Whether this request's microversion is >= `text`."""
        return self >= Version(text)


def negotiate(req, service_type, minimum, maximum, legacy_header=None):
    """Set req.version from the request headers, or answer 406 like the real API for an unsupported one."""
    requested = None
    header = req.header("OpenStack-API-Version")
    if header:
        for item in header.split(","):
            parts = item.strip().split()
            if len(parts) == 2 and parts[0].lower() == service_type:
                requested = parts[1]
    if requested is None and legacy_header:
        requested = req.header(legacy_header)
    low, high = Version(minimum), Version(maximum)
    if not requested:
        req.version = low
        return
    if requested.strip().lower() == "latest":
        req.version = high
        return
    try:
        version = Version(requested.strip())
    except ValueError:
        raise ApiError(400, f"API Version String {requested} is of invalid format. Must be of format "
                            "MajorNum.MinorNum.")
    if not low <= version <= high:
        raise ApiError(406, f"Version {requested} is not supported by the API. Minimum is {minimum} and maximum "
                            f"is {maximum}.")
    req.version = version


def headers(resp, service_type, version, legacy_header=None):
    """Echo the negotiated microversion the way the real service does."""
    if version is None:
        return
    resp.headers["OpenStack-API-Version"] = f"{service_type} {version}"
    vary = ["OpenStack-API-Version"]
    if legacy_header:
        resp.headers[legacy_header] = str(version)
        vary.append(legacy_header)
    resp.headers["Vary"] = ", ".join(vary)
