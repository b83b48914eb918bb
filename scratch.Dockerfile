# The same image as `make image`, for people with a Docker daemon. Build the rootfs first:
#   make image && docker build -f scratch.Dockerfile -t omjob-operator build/image/rootfs
# The context is the rootfs make image assembled: the static binary, /etc/passwd and
# /etc/group with the non-root user 65532, and the zoneinfo compiled from pinned tzdata.
FROM scratch
COPY . /
ENV ZONEINFO=/usr/share/zoneinfo
USER 65532:65532
ENTRYPOINT ["/omjob-operator"]
