"""Not in the guide: where the cluster is, which TLS files to use, and the
bounded run that keeps the guide's program alive for its watch.

It reads the variables the guide's section 5 exports for etcdctl, so the
program and etcdctl talk to the same member with the same certificates:
ETCDCTL_ENDPOINTS (one https://host:port URL), ETCDCTL_CACERT, ETCDCTL_CERT
and ETCDCTL_KEY.

The bounded run is driven by the test through stdin, so that its output
does not depend on timing, and no two threads print at the same time:

1. It waits for a first line: the test sends it once the guide's watch
   callback has reported a change the test made with another client.
2. It prints the values the guide's usage read, reads them again through a
   second EtcdConfigStore whose cache is empty (so get, get_json and
   get_all go to the server), then deletes "settings" twice.
3. It waits for a second line: the test sends it once the watch callback
   has reported that delete. It prints the results of the deletes.
4. It waits for stdin to close: meanwhile the test changes keys with its
   own client and checks the watch callback reports them. It prints what
   the cache, kept up to date by the watch, now holds, and closes both
   stores.

Every wait is bounded: with no word from the test for RUN_TIMEOUT seconds
the program exits with status 3.
"""
import os
import sys
import threading
from urllib.parse import urlsplit

_endpoint = urlsplit(os.environ['ETCDCTL_ENDPOINTS'].split(',')[0])
HOST = _endpoint.hostname
PORT = _endpoint.port
TLS = dict(
    ca_cert=os.environ['ETCDCTL_CACERT'],
    cert_key=os.environ['ETCDCTL_KEY'],
    cert_cert=os.environ['ETCDCTL_CERT'],
)

RUN_TIMEOUT = 60


def _give_up():
    sys.stderr.write('interop: bounded run: no word from the test within %ds\n' % RUN_TIMEOUT)
    sys.stderr.flush()
    os._exit(3)


def _expect_line(step):
    if not sys.stdin.readline():
        sys.stderr.write('interop: stdin closed at %s\n' % step)
        sys.stderr.flush()
        os._exit(4)


def bounded_run(store, db_url, settings):
    watchdog = threading.Timer(RUN_TIMEOUT, _give_up)
    watchdog.daemon = True
    watchdog.start()

    _expect_line('step 1')
    print('db_url:', db_url)
    print('settings:', settings)
    fresh = type(store)(host=HOST, port=PORT, prefix=store.prefix)
    print('fresh get(database_url):', fresh.get('database_url'))
    print('fresh get_json(settings):', fresh.get_json('settings'))
    print('fresh get(missing):', fresh.get('missing', 'default'))
    print('fresh get_all():', fresh.get_all())
    deleted = [store.delete('settings'), store.delete('settings')]

    _expect_line('step 3')
    print('delete(settings), twice:', deleted)
    print('get(settings):', store.get('settings', 'gone'))

    if sys.stdin.readline():
        sys.stderr.write('interop: expected stdin to close at step 4\n')
        os._exit(4)
    print('cached get(database_url):', store.get('database_url'))
    print('get(feature_flag):', store.get('feature_flag'))
    fresh.close()
    store.close()
    watchdog.cancel()
