sudo systemctl daemon-reload
sudo systemctl enable etcd
sudo systemctl start etcd

# Check cluster health
etcdctl --endpoints=https://127.0.0.1:2379 \
    --cacert=/etc/etcd/pki/ca.crt \
    --cert=/etc/etcd/pki/server.crt \
    --key=/etc/etcd/pki/server.key \
    endpoint health
