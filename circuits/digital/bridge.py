"""The host link's protocol engine: bytes from a UART in, the network's ports driven, bytes back out.

Every command is one byte, then its arguments; numbers are little-endian two's complement, a word of ``b`` bits
taking ``⌈b/8⌉`` bytes (the receiver keeps the low ``b`` bits):

=========  ======================================  =============================================
command    arguments                               answer
=========  ======================================  =============================================
``I``      ``n_in`` input words                    ``n_out`` output words, when they are ready
``T``      ``n_in`` input words, the label word    ``n_out`` prediction words (a learning design)
``W``      layer (1 byte), row (2), column (2),    ``K`` once the weight is written
           the weight word
``R``      layer, row, column                      the weight word
``?``      —                                       ``N`` ``C`` version flags n_in (2) n_out (2)
other      —                                       ``!`` (the host is out of step)
=========  ======================================  =============================================

``I`` and ``T`` stream: the next command may follow at once, and inputs keep flowing while earlier results are
computed and sent. ``W`` and ``R`` wait until the network is idle, so they see every earlier sample finished.
Switching between ``I`` and ``T`` waits for idle too (the network's ``train`` may change only then). ``flags``
bit 0 says the design learns. Answers to ``I``/``T`` and to other commands leave in the order their commands
arrived, provided the host waits for an answer before sending a ``?``, ``W`` or ``R``. There is no flow control:
the host sends at most a batch of samples ahead and reads their answers before switching between ``I`` and ``T``
(the board top's receive FIFO holds what arrives while the bridge waits), as :mod:`backends.fpga.host` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

VERSION = 1
IDENTIFY, INFER, TRAIN, WRITE, READ = b"?", b"I", b"T", b"W", b"R"
WRITTEN, OUT_OF_STEP = b"K", b"!"


def word_bytes(bits: int) -> int:
    return -(-bits // 8)


@dataclass(frozen=True)
class LinkShape:
    """What the bridge needs of the network behind it: its sizes and its ports' widths."""
    n_in: int
    n_out: int
    in_bits: int
    out_bits: int
    w_bits: int
    layer_bits: int
    row_bits: int
    col_bits: int
    learns: bool

    def identity(self) -> bytes:
        return (b"NC" + bytes([VERSION, int(self.learns)]) + self.n_in.to_bytes(2, "little")
                + self.n_out.to_bytes(2, "little"))


class Bridge(wiring.Component):
    """``rx``/``tx``: byte streams to and from a UART; the other ports drive a :class:`~circuits.digital.network.
    Network`'s ports of the same names (flipped)."""

    def __init__(self, shape: LinkShape) -> None:
        self.shape = s = shape
        super().__init__({
            "rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8)),
            "i": Out(stream.Signature(signed(s.in_bits))), "o": In(stream.Signature(signed(s.out_bits))),
            "w_layer": Out(s.layer_bits), "w_row": Out(s.row_bits), "w_col": Out(s.col_bits),
            "w_data": Out(signed(s.w_bits)), "w_we": Out(1), "w_rdata": In(signed(s.w_bits)),
            "train": Out(1), "idle": In(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        s = self.shape
        in_bytes, out_bytes, w_bytes = word_bytes(s.in_bits), word_bytes(s.out_bits), word_bytes(s.w_bits)

        # Transmitter: one word at a time, least significant byte first.
        tx_word = Signal(8 * max(8, out_bytes, w_bytes))
        tx_left = Signal(range(len(tx_word) // 8 + 1))
        replying = Signal()  # the command engine has an answer to send: it goes before any further output word
        m.d.comb += [self.tx.payload.eq(tx_word[:8]), self.tx.valid.eq(tx_left != 0),
                     self.o.ready.eq((tx_left == 0) & ~replying)]
        with m.If(self.tx.valid & self.tx.ready):
            m.d.sync += [tx_word.eq(tx_word >> 8), tx_left.eq(tx_left - 1)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [tx_word.eq(self.o.payload), tx_left.eq(out_bytes)]  # sign-extended

        # Receiver side: bytes gathered into words and command arguments, least significant first.
        args_bytes = 5 + w_bytes
        args = Signal(8 * args_bytes)
        word = Signal(8 * in_bytes)
        count = Signal(range(max(args_bytes, in_bytes) + 1))
        words_left = Signal(range(s.n_in + 2))
        want_train, writing = Signal(), Signal()
        wait = Signal(range(4))
        reply, reply_len = Signal.like(tx_word), Signal.like(tx_left)
        byte = self.rx.payload
        layer, row, col = args[:8], args[8:24], args[24:40]

        def answer(value: int | Signal, length: int) -> list:
            return [reply.eq(value), reply_len.eq(length)]

        with m.FSM():
            with m.State("COMMAND"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(self.rx.valid):
                    m.d.sync += count.eq(0)
                    with m.Switch(byte):
                        with m.Case(INFER[0]):
                            m.d.sync += want_train.eq(0)
                            m.next = "MODE"
                        if s.learns:
                            with m.Case(TRAIN[0]):
                                m.d.sync += want_train.eq(1)
                                m.next = "MODE"
                        with m.Case(WRITE[0], READ[0]):
                            m.d.sync += writing.eq(byte == WRITE[0])
                            m.next = "ARGS"
                        with m.Case(IDENTIFY[0]):
                            m.d.sync += answer(int.from_bytes(s.identity(), "little"), len(s.identity()))
                            m.next = "REPLY"
                        with m.Default():
                            m.d.sync += answer(OUT_OF_STEP[0], 1)
                            m.next = "REPLY"
            with m.State("MODE"):  # the network's mode may change only while it is idle
                with m.If(self.train == want_train):
                    m.d.sync += words_left.eq(s.n_in + want_train)
                    m.next = "WORD"
                with m.Elif(self.idle):
                    m.d.sync += self.train.eq(want_train)
            with m.State("WORD"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(self.rx.valid):
                    m.d.sync += word.eq(Cat(word[8:], byte) if in_bytes > 1 else byte)
                    with m.If(count == in_bytes - 1):
                        m.d.sync += count.eq(0)
                        m.next = "PUSH"
                    with m.Else():
                        m.d.sync += count.eq(count + 1)
            with m.State("PUSH"):
                m.d.comb += [self.i.valid.eq(1), self.i.payload.eq(word[:s.in_bits])]
                with m.If(self.i.ready):
                    m.d.sync += words_left.eq(words_left - 1)
                    m.next = "COMMAND"
                    with m.If(words_left != 1):
                        m.next = "WORD"
            with m.State("ARGS"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(self.rx.valid):
                    m.d.sync += [args.eq(Cat(args[8:], byte)), count.eq(count + 1)]
                    # a read has no weight word: its arguments end 5 bytes in (then shifted into place)
                    with m.If(count == Mux(writing, args_bytes - 1, 4)):
                        m.next = "ALIGN"
            with m.State("ALIGN"):  # a read's five bytes sit at the top of ``args``; move them to the bottom
                with m.If(~writing):
                    m.d.sync += args.eq(args >> (8 * w_bytes))
                m.next = "WEIGHT"
            with m.State("WEIGHT"):  # every earlier sample finished and sent: drive the weight port
                with m.If(self.idle & (tx_left == 0)):
                    m.d.sync += [self.w_layer.eq(layer), self.w_row.eq(row), self.w_col.eq(col),
                                 self.w_data.eq(args[40:40 + s.w_bits]), self.w_we.eq(writing), wait.eq(3)]
                    m.next = "SETTLE"
            with m.State("SETTLE"):  # the network registers the port, then reads two cycles after the address
                m.d.sync += self.w_we.eq(0)
                with m.If(wait == 0):
                    with m.If(writing):
                        m.d.sync += answer(WRITTEN[0], 1)
                    with m.Else():
                        m.d.sync += answer(self.w_rdata, w_bytes)  # sign-extended
                    m.next = "REPLY"
                with m.Else():
                    m.d.sync += wait.eq(wait - 1)
            with m.State("REPLY"):
                m.d.comb += replying.eq(1)
                with m.If(tx_left == 0):
                    m.d.sync += [tx_word.eq(reply), tx_left.eq(reply_len)]
                    m.next = "COMMAND"
        return m
