// SPDX-License-Identifier: GPL-2.0
/*
 * net/tap.c - the host side of a net device: a multi-queue TAP with a
 * 12-byte vnet header (the layout of struct pvio_net_hdr), one queue per
 * pvio queue pair.
 *
 * The supervisor opens the queues (pvbe_net_tap_open) and keeps them for the
 * daemon's life: a crashed worker's successor inherits them, so the
 * interface, its addresses and its bridge port survive.  The interface is
 * also made persistent, which keeps it across a crash of pviod as a whole;
 * a clean shutdown removes it again unless it was persistent before pviod
 * came (an administrator's `ip tuntap add ... multi_queue vnet_hdr`).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "net/net.h"

#define PVBE_NET_TAP_FLAGS	(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)

static void ifr_init(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
}

/* An ioctl on the interface itself, through an AF_INET datagram socket. */
static int if_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (s < 0)
		return -errno;
	if (ioctl(s, req, ifr) < 0)
		ret = -errno;
	close(s);
	return ret;
}

/*
 * Device-wide TAP ioctls go through any queue that is attached: a
 * detached queue's fd answers EBADFD.
 */
static int tap_ioctl(struct pvbe_net_dev *nd, unsigned long req, unsigned long arg)
{
	int ret = -EBADFD;
	unsigned int i;

	for (i = 0; i < nd->npairs; i++) {
		if (nd->pair[i].fd < 0)
			continue;
		if (ioctl(nd->pair[i].fd, req, arg) == 0)
			return 0;
		ret = -errno;
		if (ret != -EBADFD)
			break;
	}
	return ret;
}

static int open_queue(struct pvbe_net_dev *nd, struct pvbe_net_pair *p, bool existed)
{
	const char *tag = nd->dev->tag;
	struct ifreq ifr;
	int fd, err;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		pvbe_err(tag, "open /dev/net/tun: %s%s", strerror(err),
			 err == ENOENT ? " (is the tun module loaded?)" : "");
		return -err;
	}
	ifr_init(&ifr, nd->tap);
	ifr.ifr_flags = PVBE_NET_TAP_FLAGS;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = errno;
		if (err == EINVAL && existed)
			pvbe_err(tag, "TAP %s: cannot attach queue %u: the interface exists but is not a multi-queue TAP with a vnet header (ip tuntap add dev %s mode tap multi_queue vnet_hdr)",
				 nd->tap, p->index, nd->tap);
		else if (err == EPERM)
			pvbe_err(tag, "TAP %s: %s (pviod needs CAP_NET_ADMIN, or a TAP owned by its user)",
				 nd->tap, strerror(err));
		else
			pvbe_err(tag, "TAP %s: queue %u: TUNSETIFF: %s", nd->tap,
				 p->index, strerror(err));
		close(fd);
		return -err;
	}
	p->fd = fd;
	p->attached = true;
	return 0;
}

static int set_mtu_up(struct pvbe_net_dev *nd)
{
	struct ifreq ifr;
	int ret;

	/*
	 * The host side takes the largest frame the guest may ever send or
	 * accept: the guest raises its MTU without asking us.  The cost: a
	 * host that sends a jumbo frame to a guest still at 1500 sees it
	 * dropped here (counted), as on a real link with mismatched MTUs.
	 */
	ifr_init(&ifr, nd->tap);
	ifr.ifr_mtu = (int)nd->max_mtu;
	ret = if_ioctl(SIOCSIFMTU, &ifr);
	if (ret) {
		pvbe_err(nd->dev->tag, "TAP %s: set MTU %u: %s", nd->tap, nd->max_mtu,
			 strerror(-ret));
		return ret;
	}
	ifr_init(&ifr, nd->tap);
	ret = if_ioctl(SIOCGIFFLAGS, &ifr);
	if (!ret) {
		ifr.ifr_flags |= IFF_UP;
		ret = if_ioctl(SIOCSIFFLAGS, &ifr);
	}
	if (ret)
		pvbe_err(nd->dev->tag, "TAP %s: set UP: %s", nd->tap, strerror(-ret));
	return ret;
}

/* Is @ifname already a port of @bridge?  (Its sysfs "master" link.) */
static bool is_port_of(const char *ifname, const char *bridge)
{
	char path[64], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/master", ifname);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	base = strrchr(target, '/');
	return !strcmp(base ? base + 1 : target, bridge);
}

static int join_bridge(struct pvbe_net_dev *nd)
{
	const char *tag = nd->dev->tag;
	unsigned int idx = if_nametoindex(nd->tap);
	struct ifreq ifr;
	int ret;

	if (!if_nametoindex(nd->bridge)) {
		pvbe_err(tag, "bridge %s does not exist (create it first: ip link add %s type bridge)",
			 nd->bridge, nd->bridge);
		return -ENODEV;
	}
	if (is_port_of(nd->tap, nd->bridge))
		return 0;		/* a persistent TAP from an earlier run */
	ifr_init(&ifr, nd->bridge);
	ifr.ifr_ifindex = (int)idx;
	ret = idx ? if_ioctl(SIOCBRADDIF, &ifr) : -ENODEV;
	if (ret == -EOPNOTSUPP || ret == -EINVAL)
		pvbe_err(tag, "%s is not a Linux bridge: cannot attach TAP %s to it",
			 nd->bridge, nd->tap);
	else if (ret == -EBUSY)
		pvbe_err(tag, "TAP %s is already a port of another master, not of bridge %s",
			 nd->tap, nd->bridge);
	else if (ret)
		pvbe_err(tag, "attach TAP %s to bridge %s: %s", nd->tap, nd->bridge,
			 strerror(-ret));
	return ret;
}

int pvbe_net_tap_open(struct pvbe_net_dev *nd)
{
	const char *tag = nd->dev->tag;
	bool existed = if_nametoindex(nd->tap) != 0;
	int hdr = (int)PVBE_NET_HDR_LEN, le = 1, ret;
	struct ifreq ifr;
	unsigned int i;

	for (i = 0; i < nd->npairs; i++) {
		ret = open_queue(nd, &nd->pair[i], existed);
		if (ret)
			goto fail;
	}
	/* Little-endian vnet header of exactly our size, on every host. */
	if (ioctl(nd->pair[0].fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
	    ioctl(nd->pair[0].fd, TUNSETVNETLE, &le) < 0) {
		ret = -errno;
		pvbe_err(tag, "TAP %s: set vnet header: %s", nd->tap, strerror(-ret));
		goto fail;
	}
	ifr_init(&ifr, nd->tap);
	if (ioctl(nd->pair[0].fd, TUNGETIFF, &ifr) < 0) {
		ret = -errno;
		pvbe_err(tag, "TAP %s: TUNGETIFF: %s", nd->tap, strerror(-ret));
		goto fail;
	}
	if (existed && !(ifr.ifr_flags & IFF_PERSIST)) {
		/* Only its opener keeps a non-persistent TAP alive. */
		pvbe_err(tag, "TAP %s is in use by another process (another pviod, a QEMU?)",
			 nd->tap);
		ret = -EBUSY;
		goto fail;
	}
	if (!(ifr.ifr_flags & IFF_PERSIST)) {
		if (ioctl(nd->pair[0].fd, TUNSETPERSIST, 1UL) < 0) {
			ret = -errno;
			pvbe_err(tag, "TAP %s: TUNSETPERSIST: %s", nd->tap, strerror(-ret));
			goto fail;
		}
		nd->made_persistent = true;
	}
	/* No offloads until a guest driver accepts them (start). */
	ret = pvbe_net_tap_set_offload(nd, 0);
	if (!ret)
		ret = set_mtu_up(nd);
	if (!ret && nd->bridge[0])
		ret = join_bridge(nd);
	if (!ret)
		ret = pvbe_net_tap_set_carrier(nd, true);
	if (ret)
		goto fail;
	pvbe_info(tag, "TAP %s%s: %u queue(s), host MTU %u%s%s", nd->tap,
		  existed ? " (existing)" : "", nd->npairs, nd->max_mtu,
		  nd->bridge[0] ? ", bridge " : "", nd->bridge);
	return 0;
fail:
	pvbe_net_tap_close(nd);
	return ret;
}

void pvbe_net_tap_close(struct pvbe_net_dev *nd)
{
	unsigned int i;

	/* A detached queue cannot carry the ioctl: attach them all first. */
	for (i = 0; i < nd->npairs; i++)
		if (nd->pair[i].fd >= 0)
			pvbe_net_tap_set_queue(&nd->pair[i], true);
	if (nd->made_persistent) {
		int ret = tap_ioctl(nd, TUNSETPERSIST, 0UL);

		if (ret)
			pvbe_warn(nd->dev->tag, "TAP %s: clear persistence: %s",
				  nd->tap, strerror(-ret));
	}
	nd->made_persistent = false;
	for (i = 0; i < nd->npairs; i++) {
		if (nd->pair[i].fd >= 0)
			close(nd->pair[i].fd);
		nd->pair[i].fd = -1;
	}
}

/* Enable or disable one TAP queue; the kernel steers nothing to a disabled one. */
int pvbe_net_tap_set_queue(struct pvbe_net_pair *p, bool attach)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	/* EINVAL: already in that state (a worker before us did it). */
	if (ioctl(p->fd, TUNSETQUEUE, &ifr) < 0 && errno != EINVAL) {
		pvbe_warn(p->nd->dev->tag, "TAP %s queue %u: %s: %s", p->nd->tap,
			  p->index, attach ? "attach" : "detach", strerror(errno));
		return -errno;
	}
	p->attached = attach;
	return 0;
}

/*
 * What the TAP may hand us: partial checksums only if the guest takes them
 * (GUEST_CSUM), large TCP only if it takes that too; the kernel ties TSO to
 * checksum offload, as the guest's features must.
 */
int pvbe_net_tap_set_offload(struct pvbe_net_dev *nd, uint64_t features)
{
	unsigned long off = 0;
	int ret;

	if (features & (1ull << PVIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (features & (1ull << PVIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (features & (1ull << PVIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		if (off & (TUN_F_TSO4 | TUN_F_TSO6))
			off |= TUN_F_TSO_ECN;
	}
	ret = tap_ioctl(nd, TUNSETOFFLOAD, off);
	if (ret)
		pvbe_err(nd->dev->tag, "TAP %s: TUNSETOFFLOAD %#lx: %s", nd->tap, off,
			 strerror(-ret));
	return ret;
}

int pvbe_net_tap_set_carrier(struct pvbe_net_dev *nd, bool up)
{
	int on = up, ret = -EBADFD;
	unsigned int i;

	for (i = 0; i < nd->npairs && ret == -EBADFD; i++)
		if (nd->pair[i].fd >= 0)
			ret = ioctl(nd->pair[i].fd, TUNSETCARRIER, &on) < 0 ? -errno : 0;
	if (ret)
		pvbe_err(nd->dev->tag, "TAP %s: set carrier %s: %s", nd->tap,
			 up ? "on" : "off", strerror(-ret));
	return ret;
}

/* ---- the data path's host side (worker) ------------------------------- */

/* The host side: a TAP queue, or net = null's stand-in for one. */
ssize_t pvbe_net_host_write(struct pvbe_net_pair *p, const struct iovec *iov, unsigned int n)
{
	ssize_t w;

	if (p->null)
		return pvbe_net_null_write(p, iov, n);
	do {
		w = writev(p->fd, iov, (int)n);
	} while (w < 0 && errno == EINTR);
	return w;
}

ssize_t pvbe_net_host_read(struct pvbe_net_pair *p, const struct iovec *iov, unsigned int n)
{
	ssize_t r;

	if (p->null)
		return pvbe_net_null_read(p, iov, n);
	do {
		r = readv(p->fd, iov, (int)n);
	} while (r < 0 && errno == EINTR);
	return r;
}

/* A TAP queue that fails other than EAGAIN (interface deleted, queue detached). */
void pvbe_net_pair_dead(struct pvbe_net_pair *p, const char *what, int err)
{
	pvbe_net_watch(p, false);
	if (!p->dead)
		pvbe_err(p->nd->dev->tag, "TAP %s queue %u: %s: %s; dropping its traffic until the guest restarts the device",
			 p->nd->tap, p->index, what, strerror(err));
	p->dead = true;
}
