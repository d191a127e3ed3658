# Cluster health
etcdctl endpoint health --cluster

# Cluster status
etcdctl endpoint status --cluster -w table

# Member list
etcdctl member list -w table

# Defragment database
etcdctl defrag --cluster

# Compact revisions (cleanup old data)
etcdctl compact $(etcdctl endpoint status -w json | jq -r '.[0].Status.header.revision')
