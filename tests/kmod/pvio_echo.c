// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_echo - class driver for the echo test device.  Each open of
 * /dev/pvio-echoN is bound to one queue; write() sends the bytes to the
 * backend in a chain of page-sized segments and waits for the echo, read()
 * returns what came back.  The guest transport tests drive it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "pvio.h"
#include "pvio/echo.h"

#define PVECHO_MAX_LEN		(64 * 1024)
#define PVECHO_SEG		4096
#define PVECHO_TIMEOUT		(5 * HZ)

struct pvecho_req {
	void *in, *out;
	dma_addr_t in_dma, out_dma;
	size_t len;
	u16 id;
	u32 got;		/* bytes echoed */
	int status;
	struct completion done;
	bool abandoned;		/* writer timed out; completion frees it */
};

struct pvecho_queue {
	struct pvecho *e;
	struct pvio_queue *q;
	struct mutex lock;	/* one round trip at a time */
	spinlock_t cpl_lock;	/* protects pending */
	struct pvecho_req *pending;
	u16 next_id;
};

struct pvecho {
	struct kref ref;
	struct pvio_device *pdev;
	struct miscdevice misc;
	char name[24];
	unsigned int nq;
	atomic_t next_q;
	bool dead;
	struct pvecho_queue qs[PVIO_MAX_QUEUES];
};

struct pvecho_file {
	struct pvecho *e;
	unsigned int qi;
	void *buf;
	size_t len;
};

static void pvecho_req_free(struct pvecho *e, struct pvecho_req *r)
{
	struct device *dma = pvio_dma_dev(e->pdev);

	dma_unmap_single(dma, r->in_dma, r->len, DMA_TO_DEVICE);
	dma_unmap_single(dma, r->out_dma, r->len, DMA_FROM_DEVICE);
	kfree(r->in);
	kfree(r->out);
	kfree(r);
}

static void pvecho_release(struct kref *ref)
{
	struct pvecho *e = container_of(ref, struct pvecho, ref);

	put_device(&e->pdev->dev);
	kfree(e);
}

/* Queue interrupt: validate every completion before acting on it. */
static void pvecho_complete(struct pvio_queue *q)
{
	struct pvecho_queue *eq = pvio_queue_priv(q);
	struct pvio_cpl c;
	struct pvecho_req *r;
	unsigned long flags;
	int n;

	spin_lock_irqsave(&eq->cpl_lock, flags);
	while ((n = pvio_queue_reap(q, &c, 1)) == 1) {
		r = eq->pending;
		if (!r || le16_to_cpu(c.id) != r->id ||
		    le32_to_cpu(c.len) > r->len) {
			pvio_device_failed(eq->e->pdev, "completion for no request, or too long");
			break;
		}
		eq->pending = NULL;
		r->got = le32_to_cpu(c.len);
		r->status = le32_to_cpu(c.status) ? -EIO : 0;
		if (r->abandoned)
			pvecho_req_free(eq->e, r);
		else
			complete(&r->done);
	}
	spin_unlock_irqrestore(&eq->cpl_lock, flags);
}

static int pvecho_round_trip(struct pvecho_queue *eq, struct pvecho_req *r)
{
	struct pvio_desc d[PVECHO_MAX_LEN / PVECHO_SEG + 1];
	unsigned int n = 0;
	bool armed;
	size_t off;
	int ret;

	for (off = 0; off < r->len; off += PVECHO_SEG, n++) {
		d[n].addr = cpu_to_le64(r->in_dma + off);
		d[n].len = cpu_to_le32(min_t(size_t, PVECHO_SEG, r->len - off));
		d[n].id = cpu_to_le16(r->id);
		d[n].flags = cpu_to_le16(PVIO_DESC_F_NEXT);
	}
	d[n].addr = cpu_to_le64(r->out_dma);
	d[n].len = cpu_to_le32(r->len);
	d[n].id = cpu_to_le16(r->id);
	d[n].flags = cpu_to_le16(PVIO_DESC_F_WRITE);
	n++;

	spin_lock_irq(&eq->cpl_lock);
	eq->pending = r;
	ret = pvio_queue_submit(eq->q, d, n);
	if (ret)
		eq->pending = NULL;
	spin_unlock_irq(&eq->cpl_lock);
	if (ret)
		return ret;
	pvio_queue_kick(eq->q);
	/*
	 * Arm the interrupt; poll once in case the echo beat us to it.  Arming
	 * re-reads the completion ring, a consumer operation: under cpl_lock.
	 */
	spin_lock_irq(&eq->cpl_lock);
	armed = pvio_queue_enable_cb(eq->q);
	spin_unlock_irq(&eq->cpl_lock);
	if (!armed)
		pvecho_complete(eq->q);
	if (!wait_for_completion_timeout(&r->done, PVECHO_TIMEOUT)) {
		spin_lock_irq(&eq->cpl_lock);
		if (eq->pending == r) {
			/* The backend may still write r->out: keep it alive. */
			r->abandoned = true;
			spin_unlock_irq(&eq->cpl_lock);
			return -ETIMEDOUT;
		}
		spin_unlock_irq(&eq->cpl_lock);
	}
	return r->status;
}

static ssize_t pvecho_write(struct file *file, const char __user *ubuf,
			    size_t len, loff_t *ppos)
{
	struct pvecho_file *pf = file->private_data;
	struct pvecho *e = pf->e;
	struct pvecho_queue *eq = &e->qs[pf->qi];
	struct device *dma = pvio_dma_dev(e->pdev);
	struct pvecho_req *r;
	int ret;

	if (!len || len > PVECHO_MAX_LEN)
		return -EINVAL;
	if (READ_ONCE(e->dead))
		return -ENODEV;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	init_completion(&r->done);
	r->len = len;
	r->in = kmalloc(len, GFP_KERNEL);
	r->out = kzalloc(len, GFP_KERNEL);
	if (!r->in || !r->out) {
		kfree(r->in);
		kfree(r->out);
		kfree(r);
		return -ENOMEM;
	}
	if (copy_from_user(r->in, ubuf, len)) {
		ret = -EFAULT;
		goto err_free;
	}
	r->in_dma = dma_map_single(dma, r->in, len, DMA_TO_DEVICE);
	if (dma_mapping_error(dma, r->in_dma)) {
		ret = -ENOMEM;
		goto err_free;
	}
	r->out_dma = dma_map_single(dma, r->out, len, DMA_FROM_DEVICE);
	if (dma_mapping_error(dma, r->out_dma)) {
		dma_unmap_single(dma, r->in_dma, len, DMA_TO_DEVICE);
		ret = -ENOMEM;
		goto err_free;
	}
	mutex_lock(&eq->lock);
	if (e->dead || eq->pending) {
		mutex_unlock(&eq->lock);
		ret = e->dead ? -ENODEV : -EBUSY;
		goto err_unmap;
	}
	r->id = eq->next_id++;
	ret = pvecho_round_trip(eq, r);
	mutex_unlock(&eq->lock);
	if (ret == -ETIMEDOUT)
		return ret;		/* r belongs to the completion path now */
	if (ret)
		goto err_unmap;
	dma_unmap_single(dma, r->out_dma, len, DMA_FROM_DEVICE);
	dma_unmap_single(dma, r->in_dma, len, DMA_TO_DEVICE);
	kfree(pf->buf);
	pf->buf = r->out;
	pf->len = r->got;
	kfree(r->in);
	kfree(r);
	return len;

err_unmap:
	dma_unmap_single(dma, r->out_dma, len, DMA_FROM_DEVICE);
	dma_unmap_single(dma, r->in_dma, len, DMA_TO_DEVICE);
err_free:
	kfree(r->in);
	kfree(r->out);
	kfree(r);
	return ret;
}

static ssize_t pvecho_read(struct file *file, char __user *ubuf, size_t len,
			   loff_t *ppos)
{
	struct pvecho_file *pf = file->private_data;

	if (!pf->buf)
		return 0;
	len = min(len, pf->len);
	if (copy_to_user(ubuf, pf->buf, len))
		return -EFAULT;
	return len;
}

static int pvecho_open(struct inode *inode, struct file *file)
{
	struct pvecho *e = container_of(file->private_data, struct pvecho, misc);
	struct pvecho_file *pf;

	pf = kzalloc(sizeof(*pf), GFP_KERNEL);
	if (!pf)
		return -ENOMEM;
	kref_get(&e->ref);
	pf->e = e;
	pf->qi = (unsigned int)atomic_inc_return(&e->next_q) % e->nq;
	file->private_data = pf;
	return 0;
}

static int pvecho_close(struct inode *inode, struct file *file)
{
	struct pvecho_file *pf = file->private_data;

	kfree(pf->buf);
	kref_put(&pf->e->ref, pvecho_release);
	kfree(pf);
	return 0;
}

static const struct file_operations pvecho_fops = {
	.owner = THIS_MODULE,
	.open = pvecho_open,
	.release = pvecho_close,
	.read = pvecho_read,
	.write = pvecho_write,
	.llseek = noop_llseek,
};

static int pvecho_probe(struct pvio_device *pdev)
{
	struct pvecho *e;
	unsigned int i;
	int ret;

	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	kref_init(&e->ref);
	e->pdev = pdev;
	get_device(&pdev->dev);		/* open files may outlive the binding */
	e->nq = min_t(unsigned int, pdev->max_queues, num_online_cpus());
	ret = pvio_negotiate(pdev, 0);
	if (ret)
		goto err_free;
	for (i = 0; i < e->nq; i++) {
		struct pvecho_queue *eq = &e->qs[i];

		eq->e = e;
		mutex_init(&eq->lock);
		spin_lock_init(&eq->cpl_lock);
		eq->q = pvio_queue_setup(pdev, i, pvecho_complete, eq);
		if (IS_ERR(eq->q)) {
			ret = PTR_ERR(eq->q);
			goto err_free;
		}
	}
	ret = pvio_device_ready(pdev, e->nq);
	if (ret)
		goto err_free;
	snprintf(e->name, sizeof(e->name), "pvio-echo%u", pdev->instance);
	e->misc.minor = MISC_DYNAMIC_MINOR;
	e->misc.name = e->name;
	e->misc.fops = &pvecho_fops;
	e->misc.parent = &pdev->dev;
	ret = misc_register(&e->misc);
	if (ret)
		goto err_free;
	dev_set_drvdata(&pdev->dev, e);
	dev_info(&pdev->dev, "/dev/%s, %u queue(s)\n", e->name, e->nq);
	return 0;

err_free:
	/* The bus resets the device and frees the queues on failure. */
	kref_put(&e->ref, pvecho_release);
	return ret;
}

static void pvecho_remove(struct pvio_device *pdev)
{
	struct pvecho *e = dev_get_drvdata(&pdev->dev);
	unsigned int i;

	misc_deregister(&e->misc);
	e->dead = true;
	/* Wait out writers; their requests fail or time out. */
	for (i = 0; i < e->nq; i++) {
		mutex_lock(&e->qs[i].lock);
		mutex_unlock(&e->qs[i].lock);
	}
	/*
	 * Abandoned requests: the bus resets the device after we return, but
	 * we free them only once no completion can arrive.
	 */
	if (pvio_device_reset(pdev)) {
		unsigned int n = 0;

		/* A stalled backend may still write them: leak, never reuse. */
		for (i = 0; i < e->nq; i++) {
			/* A completion may still free one meanwhile. */
			spin_lock_irq(&e->qs[i].cpl_lock);
			n += e->qs[i].pending && e->qs[i].pending->abandoned;
			spin_unlock_irq(&e->qs[i].cpl_lock);
		}
		dev_warn(&pdev->dev, "reset not acknowledged: leaking %u abandoned request(s)\n",
			 n);
		kref_put(&e->ref, pvecho_release);
		return;
	}
	for (i = 0; i < e->nq; i++) {
		struct pvecho_req *r = e->qs[i].pending;

		if (r && r->abandoned)
			pvecho_req_free(e, r);
		e->qs[i].pending = NULL;
	}
	kref_put(&e->ref, pvecho_release);
}

static struct pvio_driver pvecho_driver = {
	.driver.name = "pvio_echo",
	.type = PVIO_DEV_ECHO,
	.probe = pvecho_probe,
	.remove = pvecho_remove,
};
module_pvio_driver(pvecho_driver);

MODULE_ALIAS("pvio:t007F");
MODULE_DESCRIPTION("pvio echo test device driver");
MODULE_LICENSE("GPL");
