"""Script the emulated chip at register level, the way BSS-2 users script the real one.

Writes a row of synapse weights, a few CapMem cells and a synapse driver config, waits on the
FPGA timer, reads everything back (plus the timer) and checks it. Run:

    python examples/low_level.py [--chip-id N]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from driver import EmulatorConnection, PlaybackProgramBuilder
from driver.containers import CapMemCell, SynapseDriverConfig, SynapseWeightRow, Timer
from driver.coordinates import CapMemCellOnDLS, SynapseDriverOnDLS, SynapseRowOnDLS, TimerOnDLS

FPGA_CYCLES_PER_US = 125


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chip-id", default="0", help="int or 'ideal' (default 0)")
    args = parser.parse_args(argv)
    chip_id = args.chip_id if args.chip_id == "ideal" else int(args.chip_id)

    builder = PlaybackProgramBuilder()

    # 1. a whole row of synapse weights (row 5 of the top synram): one block container
    row = SynapseRowOnDLS(hemisphere=0, row=5)
    weights = np.arange(256) % 64
    builder.write(row, SynapseWeightRow(weights=weights))

    # 2. CapMem cells: v_leak (row 0) of neurons 0..3 of the north-west block
    cells = [CapMemCellOnDLS(block=0, column=c, row=0) for c in range(4)]
    for c, coord in enumerate(cells):
        builder.write(coord, CapMemCell(value=400 + 10 * c))

    # 3. a synapse driver in hagen mode (the MAC's driver configuration, docs/instruction-set.md)
    driver = SynapseDriverOnDLS(hemisphere=1, driver=17)
    config = SynapseDriverConfig(
        offset=7, enable_hagen_dac=True, row_address_compare_mask=0b11111,
        enable_address_out=False, enable_receiver=True,
        row_mode_top=SynapseDriverConfig.RowMode.excitatory,
        row_mode_bottom=SynapseDriverConfig.RowMode.inhibitory,
        hagen_dac_offset=20, enable_hagen_modulation=True, enable_stp=True,
        enable_charge_sharing=False)
    builder.write(driver, config)

    # 4. wait 20 us on the FPGA timer (the CapMem needs time to settle on real hardware)
    builder.write(TimerOnDLS(), Timer())
    builder.block_until(TimerOnDLS(), Timer.Value(20 * FPGA_CYCLES_PER_US))

    # 5. read everything back, and the timer
    row_ticket = builder.read(row)
    cell_tickets = [builder.read(coord) for coord in cells]
    driver_ticket = builder.read(driver)
    timer_ticket = builder.read(TimerOnDLS())

    program = builder.done()
    with EmulatorConnection(chip_id) as connection:
        info = connection.run(program)

    read_weights = row_ticket.get().weights
    read_cells = [t.get().value for t in cell_tickets]
    read_config = driver_ticket.get()
    timer = timer_ticket.get().value

    print(f"program: {len(program)} instruction words, {info.cycles} FPGA cycles "
          f"({info.chip_time_s * 1e6:.1f} us modelled chip time)")
    print(f"synapse row 5 weights, first 8 columns: {[int(w) for w in read_weights[:8]]}")
    print(f"CapMem v_leak cells: {read_cells}")
    print(f"synapse driver words: {[hex(int(w)) for w in read_config.encode()]}")
    print(f"timer after the wait: {timer} cycles")

    ok = (np.array_equal(read_weights, weights) and read_cells == [400, 410, 420, 430]
          and read_config == config and timer >= 20 * FPGA_CYCLES_PER_US)
    print("read-back matches what was written" if ok else "MISMATCH in the read-back")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
