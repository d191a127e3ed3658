// The guide's §7 "Go Transaction Example", verbatim below the import
// block, which is the only addition: the guide shows the method alone.
package main

import (
    "context"
    "time"

    clientv3 "go.etcd.io/etcd/client/v3"
)

func (s *ConfigStore) PutIfNotExists(key, value string) (bool, error) {
    ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
    defer cancel()

    fullKey := s.prefix + key

    resp, err := s.client.Txn(ctx).
        If(clientv3.Compare(clientv3.Version(fullKey), "=", 0)).
        Then(clientv3.OpPut(fullKey, value)).
        Commit()

    if err != nil {
        return false, err
    }

    return resp.Succeeded, nil
}
