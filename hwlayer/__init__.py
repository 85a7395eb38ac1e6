"""hwlayer: the emulated BrainScaleS-2 chip and its FPGA.

`hwlayer.regmap` is the published register map; `hwlayer.emulator` is the chip itself
(entry point `hwlayer.emulator.Chip`), reached only through the driver's connection;
`hwlayer.host` holds the reusable buffers and the helper thread both sides use.
"""
