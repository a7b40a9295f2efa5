"""Request bodies captured from the real clients (docker CLI 28.2.2 and docker-py 7.2.0)
against a recording socket, so the decoder is tested on what they really send."""

# POST /v1.44/containers/create?name=web
CLI_RUN = '{"Hostname":"","Domainname":"","User":"1000:1000","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"8080/tcp":{},"9000/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["FOO=bar"],"Cmd":["sh","-c","echo hi"],"Healthcheck":{"Test":["CMD-SHELL","true"]},"Image":"busybox","Volumes":{},"WorkingDir":"/tmp","Entrypoint":null,"OnBuild":null,"Labels":{"a":"b"},"HostConfig":{"Binds":["vol:/data","/tmp:/mnt:ro"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"net1","PortBindings":{"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":"18080"}],"9000/tcp":[{"HostIp":"","HostPort":""}]},"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"Tmpfs":{"/run":""},"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[{"Name":"nofile","Hard":2048,"Soft":1024}],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"Mounts":[{"Type":"tmpfs","Target":"/t"}],"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"net1":{"IPAMConfig":null,"Links":null,"Aliases":["al"],"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}'

# POST /v1.44/containers/create
CLI_RUN_IT = '{"Hostname":"","Domainname":"","User":"","AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"Tty":true,"OpenStdin":true,"StdinOnce":true,"Env":null,"Cmd":null,"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}'

# POST /v1.44/containers/abc/exec
CLI_EXEC = '{"User":"root","Privileged":false,"Tty":false,"AttachStdin":false,"AttachStderr":false,"AttachStdout":false,"Detach":true,"DetachKeys":"","Env":["X=1"],"WorkingDir":"/tmp","Cmd":["sh","-c","true"]}'

# POST /v1.44/exec/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/start
CLI_EXEC_START = '{"Detach":true,"Tty":false}'

# POST /v1.44/networks/create
CLI_NETWORK_CREATE = '{"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.1.0.0/24","Gateway":"10.1.0.1"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{"foo":"bar"},"Labels":{"x":"y"},"Name":"n1"}'

# POST /v1.44/volumes/create
CLI_VOLUME_CREATE = '{"Driver":"local","DriverOpts":{"type":"tmpfs"},"Labels":{"x":"y"},"Name":"v1"}'

# POST /v1.44/networks/n1/connect
CLI_NETWORK_CONNECT = '{"Container":"abc","EndpointConfig":{"IPAMConfig":{},"Links":null,"Aliases":["zz"],"MacAddress":"","DriverOpts":{},"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}'

# POST /v1.44/networks/n1/disconnect
CLI_NETWORK_DISCONNECT = '{"Container":"abc","Force":true}'

# POST /v1.44/containers/create?name=x
PY_CONTAINERS_CREATE = '{"ExposedPorts": {"8080/tcp": {}, "9000/udp": {}}, "Tty": false, "OpenStdin": false, "StdinOnce": false, "AttachStdin": false, "AttachStdout": false, "AttachStderr": false, "Env": ["A=1"], "Cmd": ["sh", "-c", "true"], "Image": "busybox", "Volumes": {"/data": {}}, "NetworkDisabled": false, "HostConfig": {"NetworkMode": "n1", "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}, "Binds": ["vol:/data:rw"], "PortBindings": {"8080/tcp": [{"HostIp": "", "HostPort": ""}], "9000/udp": [{"HostIp": "127.0.0.1", "HostPort": "9001"}]}, "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}], "Tmpfs": {"/run": ""}, "AutoRemove": true, "Mounts": [{"Target": "/m", "Source": "vol2", "Type": "volume", "ReadOnly": false}]}, "NetworkingConfig": {"n1": null}, "Labels": {"l": "v"}, "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000, "Timeout": null, "Retries": null, "StartPeriod": null}}'

# POST /v1.44/containers/create
PY_CREATE_CONTAINER = '{"ExposedPorts": {"8080/tcp": {}}, "Tty": false, "OpenStdin": false, "StdinOnce": false, "AttachStdin": false, "AttachStdout": true, "AttachStderr": true, "Cmd": ["echo", "hi"], "Image": "busybox", "NetworkDisabled": false, "HostConfig": {"NetworkMode": "default", "Binds": ["/tmp:/tmp"], "PortBindings": {"8080/tcp": [{"HostIp": "", "HostPort": ""}]}}}'

# POST /v1.44/containers/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/exec
PY_EXEC = '{"Container": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "User": "", "Privileged": false, "Tty": false, "AttachStdin": false, "AttachStdout": true, "AttachStderr": true, "Cmd": ["true"], "Env": ["A=1"]}'

# POST /v1.44/networks/create
PY_NETWORK_CREATE = '{"Name": "n2", "Driver": "bridge", "Labels": {"a": "b"}}'

# POST /v1.44/volumes/create
PY_VOLUME_CREATE = '{"Name": "v2", "Labels": {"a": "b"}}'
