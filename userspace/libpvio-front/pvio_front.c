// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_front.c - libpvio-front: the guest side of the pvio ABI in userspace.
 * Mirrors what pvio.ko does, including the validation of everything the
 * backend wrote.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pvio_front.h"


static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One handshake message: an int64 and maybe one fd. */
static int recv_msg(int sock, int64_t *val, int *fd)
{
	int64_t le;
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	} while (n < 0 && errno == EINTR);
	if (n != sizeof(le))
		return n < 0 ? -errno : -EPROTO;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	*val = (int64_t)le64toh((uint64_t)le);
	return 0;
}

static int send_ram(int sock, int fd, uint64_t size)
{
	int64_t m[2] = { (int64_t)htole64(PVIO_IVSHMEM_EXT_RAM),
			 (int64_t)htole64(size) };
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(m) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(u.buf, 0, sizeof(u.buf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == sizeof(m) ? 0 : -EIO;
}

static int handshake(struct pvfront *f)
{
	unsigned int nbe = 0, nmine = 0;
	int64_t v;
	int fd, ret;
	struct pollfd p = { .fd = f->sock, .events = POLLIN };

	ret = recv_msg(f->sock, &v, &fd);
	if (ret || v != 0 || fd >= 0)
		return -EPROTO;		/* protocol version 0 */
	ret = recv_msg(f->sock, &v, &fd);
	if (ret || v < 0 || v > 0xffff || fd >= 0)
		return -EPROTO;
	f->my_id = (uint16_t)v;
	ret = recv_msg(f->sock, &v, &fd);
	if (ret || v != -1 || fd < 0)
		return -EPROTO;
	f->shm_fd = fd;
	/* Peer eventfds, then ours; the backend sends the same count. */
	for (;;) {
		if (nbe && nmine == nbe)
			break;
		if (poll(&p, 1, 5000) != 1)
			return -ETIMEDOUT;
		ret = recv_msg(f->sock, &v, &fd);
		if (ret)
			return ret;
		if (fd < 0)
			continue;	/* a peer left: not expected here */
		if (v == f->my_id) {
			if (nmine == PVIO_MAX_VECTORS)
				return -EPROTO;
			f->my_efd[nmine++] = fd;
		} else {
			if (nbe == PVIO_MAX_VECTORS)
				return -EPROTO;
			f->be_efd[nbe++] = fd;
		}
	}
	f->nvectors = nbe;
	return 0;
}

int pvfront_connect(struct pvfront *f, const char *path, uint64_t ram_size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int ret;

	memset(f, 0, sizeof(*f));
	f->sock = f->shm_fd = f->ram_fd = -1;
	memset(f->be_efd, -1, sizeof(f->be_efd));
	memset(f->my_efd, -1, sizeof(f->my_efd));
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->sock < 0)
		return -errno;
	if (connect(f->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto err;
	}
	ret = handshake(f);
	if (ret)
		goto err;
	if (fstat(f->shm_fd, &st) < 0 || st.st_size < (off_t)sizeof(*f->hdr)) {
		ret = -EPROTO;
		goto err;
	}
	f->win_size = (uint64_t)st.st_size;
	f->win = mmap(NULL, f->win_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      f->shm_fd, 0);
	if (f->win == MAP_FAILED) {
		f->win = NULL;
		ret = -errno;
		goto err;
	}
	f->hdr = f->win;
	if (ram_size) {
		f->ram_fd = memfd_create("pvfront-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (f->ram_fd < 0 || ftruncate(f->ram_fd, (off_t)ram_size) < 0) {
			ret = -errno;
			goto err;
		}
		f->ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      f->ram_fd, 0);
		if (f->ram == MAP_FAILED) {
			f->ram = NULL;
			ret = -errno;
			goto err;
		}
		f->ram_size = ram_size;
		f->ram_brk = 4096;	/* keep gpa 0 unused: catches NULL bugs */
		ret = send_ram(f->sock, f->ram_fd, ram_size);
		if (ret)
			goto err;
	}
	return 0;
err:
	pvfront_close(f);
	return ret;
}

int pvfront_use_ram_file(struct pvfront *f, const char *path)
{
	struct stat st;

	if (f->ram)
		return -EEXIST;
	f->ram_fd = open(path, O_RDWR | O_CLOEXEC);
	if (f->ram_fd < 0 || fstat(f->ram_fd, &st) < 0 || !st.st_size)
		return -errno ? -errno : -EINVAL;
	f->ram = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      f->ram_fd, 0);
	if (f->ram == MAP_FAILED) {
		f->ram = NULL;
		return -errno;
	}
	f->ram_size = (uint64_t)st.st_size;
	f->ram_brk = 4096;
	return 0;
}

void pvfront_close(struct pvfront *f)
{
	unsigned int v;

	if (f->ram)
		munmap(f->ram, f->ram_size);
	if (f->win)
		munmap(f->win, f->win_size);
	for (v = 0; v < PVIO_MAX_VECTORS; v++) {
		if (f->be_efd[v] >= 0)
			close(f->be_efd[v]);
		if (f->my_efd[v] >= 0)
			close(f->my_efd[v]);
	}
	if (f->ram_fd >= 0)
		close(f->ram_fd);
	if (f->shm_fd >= 0)
		close(f->shm_fd);
	if (f->sock >= 0)
		close(f->sock);
	memset(f, 0, sizeof(*f));
	f->sock = f->shm_fd = f->ram_fd = -1;
	memset(f->be_efd, -1, sizeof(f->be_efd));
	memset(f->my_efd, -1, sizeof(f->my_efd));
}

int pvfront_wait_ready(struct pvfront *f, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		if (pvio_le32_to_cpu(pvio_load_acquire(&f->hdr->magic)) == PVIO_MAGIC &&
		    pvio_le32_to_cpu(pvio_load_acquire(&f->hdr->backend_state)) ==
		    PVIO_BS_READY)
			break;
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
	if (pvio_le32_to_cpu(f->hdr->abi_version) >> 16 != PVIO_ABI_VERSION_MAJOR ||
	    pvio_le64_to_cpu(f->hdr->window_size) != f->win_size)
		return -EPROTO;
	f->generation = pvio_le32_to_cpu(f->hdr->generation);
	return 0;
}

struct pvio_dev_desc *pvfront_find(struct pvfront *f, int type, int nth,
				   unsigned int *index)
{
	uint32_t off = pvio_le32_to_cpu(f->hdr->dev_table_off);
	unsigned int n = pvio_le16_to_cpu(f->hdr->num_devices), i;
	struct pvio_dev_desc *t;

	if (n > PVIO_MAX_DEVICES ||
	    !pvio_abi_range_ok(off, (uint64_t)n * sizeof(*t), f->win_size))
		return NULL;
	t = (struct pvio_dev_desc *)((char *)f->win + off);
	for (i = 0; i < n; i++) {
		if (pvio_le16_to_cpu(t[i].type) == type && nth-- == 0) {
			if (index)
				*index = i;
			return &t[i];
		}
	}
	return NULL;
}

void pvfront_kick_config(struct pvfront *f)
{
	uint64_t one = 1;

	if (f->be_efd[PVIO_CONFIG_VECTOR] >= 0 &&
	    write(f->be_efd[PVIO_CONFIG_VECTOR], &one, sizeof(one)) < 0)
		perror("pvfront: config doorbell");
}

static void set_status(struct pvfront_dev *d, uint32_t st)
{
	pvio_store_release(&d->desc->driver_status, pvio_cpu_to_le32(st));
	pvfront_kick_config(d->f);
}

static int setup_queue(struct pvfront_dev *d, unsigned int i)
{
	struct pvfront *f = d->f;
	struct pvio_queue_desc *qd;
	struct pvfront_queue *q = &d->q[i];
	uint32_t qoff = pvio_le32_to_cpu(d->desc->queue_off);
	uint32_t sqo, cqo, sqn, cqn, sqe, cqe, vec;

	if (!pvio_abi_range_ok(qoff, (uint64_t)(i + 1) * sizeof(*qd), f->win_size))
		return -EPROTO;
	qd = (struct pvio_queue_desc *)((char *)f->win + qoff) + i;
	/* Read each field once, then validate the copies. */
	sqo = pvio_le32_to_cpu(qd->sq_off);
	cqo = pvio_le32_to_cpu(qd->cq_off);
	sqn = pvio_le32_to_cpu(qd->sq_size);
	cqn = pvio_le32_to_cpu(qd->cq_size);
	sqe = pvio_le16_to_cpu(qd->sq_esize);
	cqe = pvio_le16_to_cpu(qd->cq_esize);
	vec = pvio_le16_to_cpu(qd->vector);
	if (!pvio_ring_size_valid(sqn, sqe) || !pvio_ring_size_valid(cqn, cqe) ||
	    cqn < sqn || sqo % 64 || cqo % 64 ||
	    !pvio_abi_range_ok(sqo, pvio_ring_bytes(sqn, sqe), f->win_size) ||
	    !pvio_abi_range_ok(cqo, pvio_ring_bytes(cqn, cqe), f->win_size) ||
	    vec == PVIO_CONFIG_VECTOR || vec >= f->nvectors)
		return -EPROTO;
	q->dev = d;
	q->index = i;
	q->vector = vec;
	q->kick_fd = f->be_efd[vec];
	q->irq_fd = f->my_efd[vec];
	q->sq_sh = (void *)((char *)f->win + sqo);
	q->cq_sh = (void *)((char *)f->win + cqo);
	if (pvio_ring_attach(&q->sq, q->sq_sh, sqn, sqe, true) ||
	    pvio_ring_attach(&q->cq, q->cq_sh, cqn, cqe, false))
		return -EPROTO;
	pvio_write_once(qd->enabled, pvio_cpu_to_le32(1));
	return 0;
}

int pvfront_dev_setup(struct pvfront *f, unsigned int index, uint64_t features,
		      unsigned int nqueues, struct pvfront_dev **out)
{
	return pvfront_dev_setup_ex(f, index, features, nqueues, NULL, NULL, out);
}

int pvfront_dev_setup_ex(struct pvfront *f, unsigned int index, uint64_t features,
			 unsigned int nqueues,
			 void (*between)(struct pvfront_dev *d, void *arg), void *arg,
			 struct pvfront_dev **out)
{
	struct pvfront_dev *d = &f->dev[index];
	unsigned int n = pvio_le16_to_cpu(f->hdr->num_devices), i;
	uint32_t off = pvio_le32_to_cpu(f->hdr->dev_table_off);
	uint64_t host;
	int ret;

	if (index >= n || index >= PVIO_MAX_DEVICES ||
	    !pvio_abi_range_ok(off, (uint64_t)n * sizeof(*d->desc), f->win_size))
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->f = f;
	d->index = index;
	d->desc = (struct pvio_dev_desc *)((char *)f->win + off) + index;
	if (nqueues == 0 || nqueues > pvio_le16_to_cpu(d->desc->max_queues))
		return -EINVAL;
	d->nqueues = nqueues;
	set_status(d, PVIO_DS_ACKNOWLEDGE);
	set_status(d, PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER);
	host = pvio_le64_to_cpu(d->desc->host_features);
	d->desc->guest_features = pvio_cpu_to_le64(features & host);
	set_status(d, PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER | PVIO_DS_FEATURES_OK);
	if (between)
		between(d, arg);
	for (i = 0; i < nqueues; i++) {
		ret = setup_queue(d, i);
		if (ret)
			return ret;
	}
	d->desc->num_queues = pvio_cpu_to_le16(nqueues);
	set_status(d, PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER |
		   PVIO_DS_FEATURES_OK | PVIO_DS_DRIVER_OK);
	if (out)
		*out = d;
	return 0;
}

int pvfront_dev_reset(struct pvfront_dev *d, int timeout_ms)
{
	uint32_t req = pvio_le32_to_cpu(d->desc->reset_request) + 1;
	int64_t end = now_ms() + timeout_ms;

	pvio_write_once(d->desc->driver_status, 0);
	pvio_store_release(&d->desc->reset_request, pvio_cpu_to_le32(req));
	pvfront_kick_config(d->f);
	while (pvio_le32_to_cpu(pvio_load_acquire(&d->desc->reset_count)) != req) {
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

void *pvfront_alloc(struct pvfront *f, size_t size, size_t align,
		    uint64_t *gpa)
{
	uint64_t at;

	if (!align)
		align = 64;
	at = (f->ram_brk + align - 1) & ~((uint64_t)align - 1);
	if (at > f->ram_size || size > f->ram_size - at)
		return NULL;
	f->ram_brk = at + size;
	if (gpa)
		*gpa = at;
	return (char *)f->ram + at;
}

int pvfront_submit(struct pvfront_queue *q, const struct pvio_desc *d,
		   unsigned int n)
{
	/* Whole chain in one commit: the backend never sees half of it. */
	int ret = pvio_ring_enqueue_bulk(&q->sq, d, n);

	if (ret < 0)
		return ret;
	return ret == (int)n ? 0 : -EAGAIN;
}

void pvfront_kick(struct pvfront_queue *q)
{
	uint64_t one = 1;

	if (pvio_ring_prod_need_notify(&q->sq)) {
		q->kicks++;
		if (write(q->kick_fd, &one, sizeof(one)) < 0)
			perror("pvfront: doorbell");
	}
}

int pvfront_reap(struct pvfront_queue *q, struct pvio_cpl *c, unsigned int max)
{
	int n = pvio_ring_dequeue(&q->cq, c, max);

	uint64_t one = 1;

	/* A backend with a full CQ may be waiting for us to reap. */
	if (n > 0 && pvio_ring_cons_need_notify(&q->cq)) {
		q->kicks++;
		if (write(q->kick_fd, &one, sizeof(one)) < 0)
			perror("pvfront: doorbell");
	}
	return n;
}

int pvfront_wait(struct pvfront_queue *q, int timeout_ms)
{
	struct pollfd p = { .fd = q->irq_fd, .events = POLLIN };
	uint64_t v;
	int ret;

	ret = pvio_ring_cons_arm(&q->cq);
	if (ret != 0)
		return ret;
	ret = poll(&p, 1, timeout_ms);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	if (read(q->irq_fd, &v, sizeof(v)) == sizeof(v))
		q->irqs++;
	return 0;
}

uint64_t pvfront_heartbeat(struct pvfront *f)
{
	return pvio_le64_to_cpu(pvio_read_once(f->hdr->heartbeat));
}

uint32_t pvfront_device_state(struct pvfront_dev *d)
{
	return pvio_le32_to_cpu(pvio_read_once(d->desc->device_state));
}
