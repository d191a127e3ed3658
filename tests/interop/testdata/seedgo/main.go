// The configuration guide's Go program (§6 "Go Implementation"), kept
// verbatim except for three lines, each marked "interop:":
//
//   - NewConfigStore: `TLS: nil` becomes `TLS: interopTLS()`, the CA and
//     client certificate the guide's §5 exports for etcdctl
//     (ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY);
//   - main: the endpoint `[]string{"localhost:2379"}` becomes
//     `interopEndpoints()`, from ETCDCTL_ENDPOINTS;
//   - main: `select {}` becomes `interopRun(store)`, a bounded run
//     (interop.go) that also calls PutIfNotExists (the guide's §7,
//     putifnotexists.go) and returns when the test closes stdin.
//
// This comment is the fourth difference. tests/interop checks that the
// file is the guide's text with exactly these changes.
package main

import (
    "context"
    "encoding/json"
    "fmt"
    "log"
    "sync"
    "time"

    clientv3 "go.etcd.io/etcd/client/v3"
)

type ConfigStore struct {
    client    *clientv3.Client
    cache     map[string]string
    cacheLock sync.RWMutex
    prefix    string
}

func NewConfigStore(endpoints []string, prefix string) (*ConfigStore, error) {
    client, err := clientv3.New(clientv3.Config{
        Endpoints:   endpoints,
        DialTimeout: 5 * time.Second,
        TLS:         interopTLS(), // interop: was nil ("Configure TLS for production")
    })
    if err != nil {
        return nil, err
    }

    return &ConfigStore{
        client: client,
        cache:  make(map[string]string),
        prefix: prefix,
    }, nil
}

func (s *ConfigStore) Put(key, value string) error {
    ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
    defer cancel()

    fullKey := s.prefix + key
    _, err := s.client.Put(ctx, fullKey, value)
    if err != nil {
        return err
    }

    s.cacheLock.Lock()
    s.cache[key] = value
    s.cacheLock.Unlock()

    return nil
}

func (s *ConfigStore) Get(key string) (string, error) {
    s.cacheLock.RLock()
    if val, ok := s.cache[key]; ok {
        s.cacheLock.RUnlock()
        return val, nil
    }
    s.cacheLock.RUnlock()

    ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
    defer cancel()

    fullKey := s.prefix + key
    resp, err := s.client.Get(ctx, fullKey)
    if err != nil {
        return "", err
    }

    if len(resp.Kvs) == 0 {
        return "", nil
    }

    value := string(resp.Kvs[0].Value)
    s.cacheLock.Lock()
    s.cache[key] = value
    s.cacheLock.Unlock()

    return value, nil
}

func (s *ConfigStore) GetJSON(key string, target interface{}) error {
    value, err := s.Get(key)
    if err != nil {
        return err
    }
    return json.Unmarshal([]byte(value), target)
}

func (s *ConfigStore) Watch(ctx context.Context, callback func(key, value string)) {
    watchChan := s.client.Watch(ctx, s.prefix, clientv3.WithPrefix())

    for watchResp := range watchChan {
        for _, event := range watchResp.Events {
            key := string(event.Kv.Key)[len(s.prefix):]
            value := string(event.Kv.Value)

            s.cacheLock.Lock()
            if event.Type == clientv3.EventTypeDelete {
                delete(s.cache, key)
            } else {
                s.cache[key] = value
            }
            s.cacheLock.Unlock()

            callback(key, value)
        }
    }
}

func (s *ConfigStore) GetAll() (map[string]string, error) {
    ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
    defer cancel()

    resp, err := s.client.Get(ctx, s.prefix, clientv3.WithPrefix())
    if err != nil {
        return nil, err
    }

    result := make(map[string]string)
    for _, kv := range resp.Kvs {
        key := string(kv.Key)[len(s.prefix):]
        result[key] = string(kv.Value)
    }

    return result, nil
}

func (s *ConfigStore) Close() {
    s.client.Close()
}

func main() {
    store, err := NewConfigStore(interopEndpoints(), "/config/api/") // interop: was []string{"localhost:2379"}
    if err != nil {
        log.Fatal(err)
    }
    defer store.Close()

    // Store configuration
    store.Put("database_url", "postgresql://localhost:5432/api")
    store.Put("settings", `{"max_connections": 100, "timeout": 30}`)

    // Get configuration
    dbURL, _ := store.Get("database_url")
    fmt.Println("Database URL:", dbURL)

    var settings map[string]interface{}
    store.GetJSON("settings", &settings)
    fmt.Println("Settings:", settings)

    // Watch for changes
    ctx, cancel := context.WithCancel(context.Background())
    defer cancel()

    go store.Watch(ctx, func(key, value string) {
        fmt.Printf("Config changed: %s = %s\n", key, value)
    })

    interopRun(store) // interop: was select {}
}
