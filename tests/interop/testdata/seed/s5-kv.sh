# Set environment variables for authentication
export ETCDCTL_ENDPOINTS=https://127.0.0.1:2379
export ETCDCTL_CACERT=/etc/etcd/pki/ca.crt
export ETCDCTL_CERT=/etc/etcd/pki/server.crt
export ETCDCTL_KEY=/etc/etcd/pki/server.key

# Put a key
etcdctl put /config/api/database_url "postgresql://localhost:5432/api"

# Get a key
etcdctl get /config/api/database_url

# Get with prefix (all keys starting with...)
etcdctl get /config/api/ --prefix

# Get only values
etcdctl get /config/api/ --prefix --print-value-only

# Delete a key
etcdctl del /config/api/old_setting

# Delete with prefix
etcdctl del /config/api/deprecated/ --prefix

# List all keys
etcdctl get "" --prefix --keys-only

# Get key with revision history
etcdctl get /config/api/database_url --rev=5
