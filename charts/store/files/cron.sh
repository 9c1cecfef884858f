#!/bin/sh
# WP-Cron, run by the store's cron job: runs the WordPress events that are
# due, WooCommerce's Action Scheduler among them (orders, e-mails,
# webhooks). Page loads no longer run them (DISABLE_WP_CRON). Runs never
# overlap: the CronJob forbids it.
#
# No credential is printed: no `set -x`.
#
# Environment: the WORDPRESS_* variables of wp-config.php,
# CONTAINER_MEMORY_MIB (the container's memory limit), and optionally
# WP_ROOT (default /var/www/html) and WP_CLI_MEMORY_LIMIT.
set -eu

WP_ROOT=${WP_ROOT:-/var/www/html}
# PHP may take three quarters of the container's memory, so that a run that
# needs more fails with PHP's message instead of being killed; php-cli's
# default (128M) is too small for WooCommerce.
if [ -z "${WP_CLI_MEMORY_LIMIT:-}" ]; then
	case ${CONTAINER_MEMORY_MIB:-} in
	'' | *[!0-9]*) WP_CLI_MEMORY_LIMIT=256M ;;
	*) WP_CLI_MEMORY_LIMIT=$((CONTAINER_MEMORY_MIB * 3 / 4))M ;;
	esac
fi

log() { printf '%s cron: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*"; }
die() {
	log "error: $*" >&2
	exit 1
}

WP_BIN=$(command -v wp) || die "wp-cli is not in this image"
wp() { php -d memory_limit="$WP_CLI_MEMORY_LIMIT" "$WP_BIN" --path="$WP_ROOT" "$@"; }

cd "$WP_ROOT" || die "the WordPress volume is not mounted at $WP_ROOT"

# A new store's first minutes: the setup Job has not installed WordPress
# yet, and there is nothing to run.
if [ ! -s wp-config.php ] || ! wp core is-installed >/dev/null 2>&1; then
	log "WordPress is not installed yet, or its database does not answer: nothing to run"
	exit 0
fi

wp cron event run --due-now
