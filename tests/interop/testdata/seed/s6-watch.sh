# Watch a single key
etcdctl watch /config/api/database_url

# Watch all keys with prefix
etcdctl watch /config/api/ --prefix

# Watch with previous value
etcdctl watch /config/api/ --prefix --prev-kv
