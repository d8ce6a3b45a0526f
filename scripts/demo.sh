#!/usr/bin/env bash
# The end-to-end demo on the built-in default data (scikit-learn digits):
# train backprop and direct feedback alignment, lower each to the IR, print the IR, evaluate with the reference,
# then compile the DFA network to a SPICE crossbar circuit and verify the whole test set (the fast simulator, ngspice
# judging a sample), sweep its accuracy over wire resistance and device variation on Dask,
# and compile it to fixed-point FPGA hardware (Verilog) and verify every output word in Verilator; fit it to the
# iCEBreaker board, build its bitstream and run the test set over the UART host link (in Verilator); then build
# the untrained network with the DFA learning engine on chip, verify its weights after 300 samples, train it 5 epochs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
out=${NEUROCC_DEMO_OUT:-out/demo}
epochs=${NEUROCC_DEMO_EPOCHS:-40}
mkdir -p "$out"
for rule in bp dfa; do
  echo "== train $rule on digits (64 hidden, $epochs epochs)"
  neurocc train --rule "$rule" --dataset digits --hidden 64 --epochs "$epochs" --seed 0 \
    -o "$out/digits-$rule.ncm" --plot "$out/digits-$rule.png"
done
echo "== the DFA model's IR"
neurocc inspect "$out/digits-dfa.ncm"
for rule in bp dfa; do
  echo "== evaluate $rule with the float64 reference interpreter"
  neurocc eval "$out/digits-$rule.ncm" --dataset digits
done
echo "== compile the DFA network to a SPICE crossbar netlist"
neurocc compile "$out/digits-dfa.ncm" --target spice -o "$out/digits-dfa-spice"
echo "== verify the whole digits test set in the fast simulator against the analog reference, and 32 inputs in ngspice"
neurocc verify "$out/digits-dfa-spice" --dataset digits
echo "== sweep wire resistance and device variation, 3 seeds each, on a Dask LocalCluster (plots: $out/sweep/)"
neurocc sweep "$out/digits-dfa.ncm" --param r_wire=0,2,5,10,20 --param variation=0,0.1,0.2,0.4 --seeds 3 \
  -o "$out/sweep" --quiet
echo "== compile the DFA network to FPGA hardware (8 MAC lanes, 8-bit weights and activations)"
neurocc compile "$out/digits-dfa.ncm" --target fpga --pe 8 -o "$out/digits-dfa-fpga"
echo "== run the whole digits test set through the Verilog in Verilator against the integer reference"
neurocc verify "$out/digits-dfa-fpga" --dataset digits
echo "== fit the DFA network to the iCEBreaker's iCE40 UP5K (the fastest lane count that fits)"
neurocc compile "$out/digits-dfa.ncm" --target fpga --board icebreaker -o "$out/digits-dfa-icebreaker"
echo "== build its bitstream with the UART host link: yosys, nextpnr-ice40, icepack ($out/digits-dfa-icebreaker/build/)"
neurocc build "$out/digits-dfa-icebreaker" --board icebreaker
echo "== the whole test set over the UART: the board design in Verilator behind a pseudo-terminal"
neurocc run "$out/digits-dfa-icebreaker" --port verilator
echo "== on-chip DFA: the untrained network (random weights) with a learning engine in the hardware"
neurocc train --rule dfa --dataset digits --hidden 64 --epochs 0 --seed 0 -o "$out/digits-init.ncm"
neurocc compile "$out/digits-init.ncm" --target fpga --pe 8 --learn dfa -o "$out/digits-onchip"
echo "== 300 training samples in Verilator and in the reference trainer: every weight compared"
neurocc verify "$out/digits-onchip" --learn-steps 300
echo "== train on chip for 5 epochs in Verilator, test after each (learning curves: $out/digits-onchip.png)"
neurocc simulate "$out/digits-onchip" --train --epochs 5 --plot "$out/digits-onchip.png"
