"""The largest numbers the database and OpenStack hold: where the API's integer fields stop.

A number past them used to be accepted and fail later in a worker (security issue 27, finding 6): PostgreSQL's
integer column is 32-bit, and so are Nova's quota limits (cores, ram in MiB, instances) and Cinder's gigabytes.
"""

INT32_MAX = 2_147_483_647
MIB_PER_GIB = 1024
# Nova: cores, instances and ram (MiB) quotas.
NOVA_QUOTA_MAX = INT32_MAX
# Cinder holds the storage quota in GiB; ours is MiB.
CINDER_GIGABYTES_MAX = INT32_MAX
STORAGE_QUOTA_MAX = CINDER_GIGABYTES_MAX * MIB_PER_GIB
PORT_MAX = 65535
