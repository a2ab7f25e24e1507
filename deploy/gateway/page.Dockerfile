# The browser page as an image, for Kubernetes (deploy/k8s/base/page.yaml): nginx with the
# page's files and its configuration baked in, so a deployment carries one versioned
# artefact and no copy of the page lives beside the manifests. docker compose does not need
# it (its gateway mounts www/ read-only); .ci/compose.sh builds and probes it.
#
#   docker build -f deploy/gateway/page.Dockerfile -t jwt-demo/page .
#
# NGINX_IMAGE: the base (CI builds from its local stand-in, having no registry).
ARG NGINX_IMAGE=nginx:1.27-bookworm
FROM ${NGINX_IMAGE}

COPY deploy/gateway/page.conf /etc/nginx/page/nginx.conf
COPY deploy/gateway/www/index.html /srv/page/index.html
COPY deploy/gateway/www/assets/ /srv/page/assets/

# The official image's unprivileged nginx user; the page needs no more.
USER 101:101
EXPOSE 8080
CMD ["nginx", "-c", "/etc/nginx/page/nginx.conf", "-e", "stderr"]
