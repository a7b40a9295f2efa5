#!/bin/sh
# The demo's container part, run as the unprivileged demo user (contrib/demo.sh
# pipes it in). Offline: the image is made here from the static busybox.
set -eu
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
work=$(mktemp -d)
trap 'rm -rf "$work"; rootless rm -f demo-web >/dev/null 2>&1 || true' EXIT

# A tiny root filesystem: static busybox, its applets, a web page.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/www" "$work/rootfs/tmp"
cp /usr/bin/busybox "$work/rootfs/bin/busybox"
for applet in $(/usr/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$work/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' > "$work/rootfs/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$work/rootfs/etc/group"
echo '<h1>Hello from a rootless container</h1>' > "$work/rootfs/www/index.html"
tar -C "$work/rootfs" --numeric-owner --owner=0 --group=0 -cf "$work/rootfs.tar" .

rootless rmi demo/web:1 >/dev/null 2>&1 || true  # the previous demo's image, if any
step rootless import -c 'CMD ["httpd","-f","-p","8080","-h","/www"]' rootfs.tar demo/web:1
rootless import -c 'CMD ["httpd","-f","-p","8080","-h","/www"]' -c 'EXPOSE 8080' "$work/rootfs.tar" demo/web:1
step rootless images
rootless images
step rootless run --rm demo/web:1 sh -c 'echo "hello from $(hostname), uid $(id -u), pid $$"'
rootless run --rm demo/web:1 sh -c 'echo "hello from $(hostname), uid $(id -u), pid $$"'
step rootless run -d --name demo-web -p 127.0.0.1::8080 demo/web:1
rootless run -d --name demo-web -p 127.0.0.1::8080 demo/web:1
step rootless port demo-web
addr=$(rootless port demo-web 8080/tcp)
echo "$addr"
step "wget -qO- http://$addr/"
i=0
until out=$(/usr/bin/busybox wget -qO- "http://$addr/" 2>/dev/null); do
    i=$((i + 1)); [ $i -lt 50 ] || { echo "web server did not answer" >&2; exit 1; }; sleep 0.1
done
echo "$out"
step rootless exec demo-web ps
rootless exec demo-web ps
step rootless ps
rootless ps
step rootless logs demo-web
rootless logs demo-web
step rootless rm -f demo-web
rootless rm -f demo-web
step "DOCKER_HOST=unix://<socket> docker run --rm demo/web:1 echo 'the real docker CLI works too'"
if command -v docker >/dev/null 2>&1; then
    DOCKER_HOST="unix://$(rootless info --format '{{.Socket}}')" \
        docker run --rm demo/web:1 echo 'the real docker CLI works too'
else
    echo "(docker CLI not installed; skipped)"
fi
