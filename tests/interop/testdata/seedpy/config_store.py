# The configuration guide's Python program (§6 "Python Implementation"),
# kept verbatim except for the lines marked "interop:":
#
#   - "import interop_conn" is added (interop_conn.py, beside this file);
#   - the client constructor etcd3.client(host=host, port=port) also gets
#     python3-etcd3's TLS arguments ca_cert, cert_key and cert_cert, from the
#     variables the guide's section 5 exports for etcdctl;
#   - the usage's EtcdConfigStore(prefix=...) also gets the host and port
#     of ETCDCTL_ENDPOINTS (the guide's defaults are localhost:2379);
#   - a last line runs interop_conn.bounded_run, which keeps the program
#     alive for the watch, driven and bounded by the test.
#
# This comment is the fifth difference. tests/interop checks that the file
# is the guide's text with exactly these changes.
import etcd3
import interop_conn  # interop: added
import json
import threading
from typing import Callable, Dict, Optional

class EtcdConfigStore:
    def __init__(self, host='localhost', port=2379, prefix='/config/'):
        self.client = etcd3.client(host=host, port=port, **interop_conn.TLS)  # interop: TLS added
        self.prefix = prefix
        self.cache: Dict[str, str] = {}
        self.watchers: list = []

    def put(self, key: str, value: str) -> None:
        """Store a configuration value."""
        full_key = self.prefix + key
        self.client.put(full_key, value)
        self.cache[key] = value

    def put_json(self, key: str, data: dict) -> None:
        """Store a JSON configuration value."""
        self.put(key, json.dumps(data))

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """Get a configuration value."""
        if key in self.cache:
            return self.cache[key]

        full_key = self.prefix + key
        value, _ = self.client.get(full_key)

        if value is None:
            return default

        decoded = value.decode('utf-8')
        self.cache[key] = decoded
        return decoded

    def get_json(self, key: str, default: Optional[dict] = None) -> Optional[dict]:
        """Get a JSON configuration value."""
        value = self.get(key)
        if value is None:
            return default
        return json.loads(value)

    def get_all(self) -> Dict[str, str]:
        """Get all configuration values with prefix."""
        result = {}
        for value, metadata in self.client.get_prefix(self.prefix):
            key = metadata.key.decode('utf-8')[len(self.prefix):]
            result[key] = value.decode('utf-8')
        return result

    def delete(self, key: str) -> bool:
        """Delete a configuration key."""
        full_key = self.prefix + key
        deleted = self.client.delete(full_key)
        if key in self.cache:
            del self.cache[key]
        return deleted

    def watch(self, callback: Callable[[str, str], None]) -> None:
        """Watch for configuration changes."""
        def watch_callback(event):
            for ev in event.events:
                key = ev.key.decode('utf-8')[len(self.prefix):]
                value = ev.value.decode('utf-8') if ev.value else None

                if value:
                    self.cache[key] = value
                elif key in self.cache:
                    del self.cache[key]

                callback(key, value)

        watch_id = self.client.add_watch_prefix_callback(
            self.prefix,
            watch_callback
        )
        self.watchers.append(watch_id)

    def close(self):
        """Close the connection."""
        for watch_id in self.watchers:
            self.client.cancel_watch(watch_id)
        self.client.close()

# Usage
def on_change(key, value):
    print(f"Config changed: {key} = {value}")

store = EtcdConfigStore(host=interop_conn.HOST, port=interop_conn.PORT, prefix='/config/api/')  # interop: host, port added

# Store configuration
store.put('database_url', 'postgresql://localhost:5432/api')
store.put_json('settings', {'max_connections': 100, 'timeout': 30})

# Get configuration
db_url = store.get('database_url')
settings = store.get_json('settings')

# Watch for changes
store.watch(on_change)

# List all configs
all_config = store.get_all()
print("All configuration:", all_config)
interop_conn.bounded_run(store, db_url, settings)  # interop: added
