// SPDX-License-Identifier: GPL-2.0
// A test-only Linux module: what CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES would do, for Debian's
// kernels, which build virtio_mmio without it (Debian 12's 6.1 and 6.12 configs, generic and
// cloud: "# CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set", so `modinfo virtio_mmio` lists no
// `device` parameter and the kernel ignores vmmd's virtio_mmio.device= parts).
//
// Each device=<size>@<base>:<irq>[:<id>] parameter registers a platform device named
// "virtio-mmio" with that MMIO window and IRQ, parsed exactly as drivers/virtio/virtio_mmio.c's
// vm_cmdline_set() parses virtio_mmio.device= (Linux 6.1): memparse for the size, then
// sscanf("@%lli:%u%n:%d%n"), nothing after, IRQ not 0. The virtio_mmio driver binds to those
// devices by name, as it does to the kernel's own. tests/linux/drive_init.c passes it the
// virtio_mmio.device= values of /proc/cmdline, in order, so the test still checks the parts
// vmmd announces: a wrong window or IRQ leaves a device unprobed or silent.
//
// Built by tests/linux/fetch_kernels.sh against Debian's linux-headers package for the same
// ABI (unsigned: the kernel loads it and taints itself, CONFIG_MODULE_SIG_FORCE is off).
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/err.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/platform_device.h>

#define MAX_DEVICES 32

static struct platform_device* devices[MAX_DEVICES];
static int device_count;
static int next_id;

static int device_set(const char* value, const struct kernel_param* kp) {
  struct resource resources[2] = {};
  char* rest;
  long long base, size;
  unsigned int irq;
  int processed, consumed = 0;
  struct platform_device* pdev;

  if (device_count == MAX_DEVICES) return -ENOSPC;
  size = memparse(value, &rest);
  processed = sscanf(rest, "@%lli:%u%n:%d%n", &base, &irq, &consumed, &next_id, &consumed);
  if (processed < 2 || rest[consumed] || irq == 0 || size <= 0) {
    pr_err("cannot parse device=%s\n", value);
    return -EINVAL;
  }
  resources[0].flags = IORESOURCE_MEM;
  resources[0].start = base;
  resources[0].end = base + size - 1;
  resources[1].flags = IORESOURCE_IRQ;
  resources[1].start = resources[1].end = irq;
  pr_info("registering virtio-mmio.%d at 0x%llx-0x%llx, IRQ %u\n",
          next_id, (unsigned long long)resources[0].start, (unsigned long long)resources[0].end,
          irq);
  pdev = platform_device_register_resndata(NULL, "virtio-mmio", next_id++, resources,
                                           ARRAY_SIZE(resources), NULL, 0);
  if (IS_ERR(pdev)) return PTR_ERR(pdev);
  devices[device_count++] = pdev;
  return 0;
}

static const struct kernel_param_ops device_ops = {
    .set = device_set,
};
module_param_cb(device, &device_ops, NULL, 0);
MODULE_PARM_DESC(device, "<size>@<base>:<irq>[:<id>], as virtio_mmio.device= (repeatable)");

static int __init virtio_mmio_cmdline_init(void) { return 0; }

static void __exit virtio_mmio_cmdline_exit(void) {
  while (device_count > 0) platform_device_unregister(devices[--device_count]);
}

module_init(virtio_mmio_cmdline_init);
module_exit(virtio_mmio_cmdline_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vmmd tests: virtio-mmio devices from device= parameters (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES)");
