// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_bus.c - the pvio bus: devices found in a window's device table,
 * drivers matched by device type, like the virtio bus.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/idr.h>
#include <linux/module.h>
#include <linux/slab.h>
#include "pvio_internal.h"

static DEFINE_IDA(pvio_index_ida);

static ssize_t type_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  pvio_dev_type_name(to_pvio_device(dev)->type));
}
static DEVICE_ATTR_RO(type);

static ssize_t features_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "0x%llx\n", to_pvio_device(dev)->features);
}
static DEVICE_ATTR_RO(features);

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct pvio_device *pdev = to_pvio_device(dev);
	u32 st = pvio_device_state(pdev);

	if (pdev->broken || (st & PVIO_DEV_S_BROKEN))
		return sysfs_emit(buf, "broken %u\n",
				  le32_to_cpu(READ_ONCE(pdev->desc->broken_reason)));
	if (!pvio_backend_alive(pdev))
		return sysfs_emit(buf, "backend-gone\n");
	if (st & PVIO_DEV_S_NEEDS_RESET)
		return sysfs_emit(buf, "needs-reset\n");
	return sysfs_emit(buf, "live\n");
}
static DEVICE_ATTR_RO(state);

static ssize_t generation_show(struct device *dev, struct device_attribute *attr,
			       char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(to_pvio_device(dev)->t->generation));
}
static DEVICE_ATTR_RO(generation);

static ssize_t modalias_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "pvio:t%04X\n", to_pvio_device(dev)->type);
}
static DEVICE_ATTR_RO(modalias);

static struct attribute *pvio_dev_attrs[] = {
	&dev_attr_type.attr,
	&dev_attr_features.attr,
	&dev_attr_state.attr,
	&dev_attr_modalias.attr,
	&dev_attr_generation.attr,
	NULL,
};
ATTRIBUTE_GROUPS(pvio_dev);

static int pvio_bus_match(struct device *dev, struct device_driver *drv)
{
	return to_pvio_device(dev)->type == to_pvio_driver(drv)->type;
}

static int pvio_bus_uevent(struct device *dev, struct kobj_uevent_env *env)
{
	return add_uevent_var(env, "MODALIAS=pvio:t%04X",
			      to_pvio_device(dev)->type);
}

static int pvio_bus_probe(struct device *dev)
{
	struct pvio_device *pdev = to_pvio_device(dev);
	struct pvio_driver *drv = to_pvio_driver(dev->driver);
	int ret;

	/* A reset the backend serves later would wipe what probe sets up. */
	if (!pvio_device_ready_for_setup(pdev)) {
		dev_warn(&pdev->dev, "backend has not acknowledged a reset: binding once it has\n");
		WRITE_ONCE(pdev->attach_pending, true);
		return -EAGAIN;
	}
	pdev->broken = false;
	pdev->features = 0;
	ret = drv->probe(pdev);
	if (ret)
		pvio_device_quiesce(pdev);
	return ret;
}

static void pvio_bus_remove(struct device *dev)
{
	struct pvio_device *pdev = to_pvio_device(dev);
	struct pvio_driver *drv = to_pvio_driver(dev->driver);

	drv->remove(pdev);
	pdev->restore_pending = false;
	/* The driver stopped its queues; make the backend forget them. */
	pvio_device_quiesce(pdev);
}

struct bus_type pvio_bus = {
	.name = "pvio",
	.match = pvio_bus_match,
	.uevent = pvio_bus_uevent,
	.probe = pvio_bus_probe,
	.remove = pvio_bus_remove,
	.dev_groups = pvio_dev_groups,
};

int __pvio_register_driver(struct pvio_driver *drv, struct module *owner)
{
	if (!drv->probe || !drv->remove)
		return -EINVAL;
	drv->driver.bus = &pvio_bus;
	drv->driver.owner = owner;
	return driver_register(&drv->driver);
}
EXPORT_SYMBOL_GPL(__pvio_register_driver);

void pvio_unregister_driver(struct pvio_driver *drv)
{
	driver_unregister(&drv->driver);
}
EXPORT_SYMBOL_GPL(pvio_unregister_driver);

static void pvio_device_release(struct device *dev)
{
	struct pvio_device *pdev = to_pvio_device(dev);

	ida_free(&pvio_index_ida, dev->id);
	kfree(pdev->queues);
	kfree(pdev);
}

struct pvio_device *pvio_device_create(struct pvio_transport *t,
				       unsigned int index,
				       struct pvio_dev_desc *desc,
				       const struct pvio_dev_ident *ident)
{
	struct pvio_device *pdev;
	int id, ret;

	pdev = kzalloc(sizeof(*pdev), GFP_KERNEL);
	if (!pdev)
		return ERR_PTR(-ENOMEM);
	pdev->t = t;
	pdev->index = index;
	pdev->desc = desc;
	/* The validated copies: the window may have changed since. */
	pdev->type = ident->type;
	pdev->instance = ident->instance;
	pdev->max_queues = ident->max_queues;
	pdev->config = ident->config_len ? t->win + ident->config_off : NULL;
	pdev->config_len = ident->config_len;
	/* A reset left unanswered by an earlier load of pvio.ko still counts. */
	spin_lock_init(&pdev->reset_lock);
	pdev->reset_req = le32_to_cpu(READ_ONCE(desc->reset_request));
	pdev->reset_pending = le32_to_cpu(READ_ONCE(desc->reset_count)) != pdev->reset_req;
	pdev->queues = kcalloc(pdev->max_queues, sizeof(*pdev->queues),
			       GFP_KERNEL);
	if (!pdev->queues) {
		kfree(pdev);
		return ERR_PTR(-ENOMEM);
	}
	id = ida_alloc(&pvio_index_ida, GFP_KERNEL);
	if (id < 0) {
		kfree(pdev->queues);
		kfree(pdev);
		return ERR_PTR(id);
	}
	device_initialize(&pdev->dev);
	pdev->dev.id = id;
	pdev->dev.bus = &pvio_bus;
	pdev->dev.parent = &t->pci->dev;
	pdev->dev.release = pvio_device_release;
	ret = dev_set_name(&pdev->dev, "pvio%d", id);
	if (!ret)
		ret = device_add(&pdev->dev);
	if (ret) {
		put_device(&pdev->dev);	/* release frees everything */
		return ERR_PTR(ret);
	}
	return pdev;
}

void pvio_device_destroy(struct pvio_device *pdev)
{
	device_unregister(&pdev->dev);
}

int pvio_bus_init(void)
{
	return bus_register(&pvio_bus);
}

void pvio_bus_uninit(void)
{
	bus_unregister(&pvio_bus);
}
