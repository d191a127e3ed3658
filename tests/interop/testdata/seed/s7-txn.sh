# Conditional put - only if key doesn't exist
etcdctl txn <<EOF
compares:
version("/config/api/lock") = 0

success requests:
put /config/api/lock "acquired"

failure requests:
get /config/api/lock
EOF
