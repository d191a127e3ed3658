# Generate CA
openssl genrsa -out ca.key 4096
openssl req -x509 -new -nodes -key ca.key -sha256 -days 3650 \
    -out ca.crt -subj "/CN=etcd-ca"

# Generate server certificate
openssl genrsa -out server.key 2048
cat > server-csr.conf << EOF
[req]
default_bits = 2048
prompt = no
default_md = sha256
distinguished_name = dn
req_extensions = req_ext

[dn]
CN = etcd1

[req_ext]
subjectAltName = @alt_names

[alt_names]
DNS.1 = etcd1
DNS.2 = etcd1.example.com
DNS.3 = localhost
IP.1 = 10.0.1.10
IP.2 = 127.0.0.1
EOF

openssl req -new -key server.key -out server.csr -config server-csr.conf
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
    -CAcreateserial -out server.crt -days 365 -extensions req_ext \
    -extfile server-csr.conf

# Copy certificates to etcd directory
sudo cp ca.crt server.crt server.key /etc/etcd/pki/
sudo chown -R etcd:etcd /etc/etcd/pki
