#!/usr/bin/env python3
"""The second, independent implementation for WireGuardTests/NoiseInteropTests: PyPI noiseprotocol
runs Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s with WireGuard's prologue between two of its own peers,
with the fixed static and ephemeral keys, preshared key and timestamp given on the command line, and
prints (one `name hex` per line) the Noise part of message 1 and message 2, both transport keys and
the handshake hash. It also opens the Swift side's Noise parts when given (--their-msg1/--their-msg2)
and prints the payloads it read, so each side is checked against the other, not only itself.

usage: noise_reference.py INIT_STATIC RESP_STATIC INIT_EPHEMERAL RESP_EPHEMERAL PSK TIMESTAMP [THEIR_MSG1 THEIR_MSG2]
(all hex; private keys are X25519 scalars)"""
import sys
import warnings

from noise.connection import Keypair, NoiseConnection

PROTOCOL = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
PROLOGUE = b"WireGuard v1 zx2c4 Jason@zx2c4.com"


def peer(initiator, static, remote_public, ephemeral, psk):
    conn = NoiseConnection.from_name(PROTOCOL)
    conn.set_as_initiator() if initiator else conn.set_as_responder()
    conn.set_prologue(PROLOGUE)
    conn.set_psks(psk)
    conn.set_keypair_from_private_bytes(Keypair.STATIC, static)
    conn.set_keypair_from_private_bytes(Keypair.EPHEMERAL, ephemeral)
    if remote_public is not None:
        conn.set_keypair_from_public_bytes(Keypair.REMOTE_STATIC, remote_public)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "fixed ephemeral: testing only" is the point here
        conn.start_handshake()
    return conn


def public_of(private):
    conn = NoiseConnection.from_name(PROTOCOL)
    conn.set_keypair_from_private_bytes(Keypair.STATIC, private)
    return conn.noise_protocol.keypairs["s"].public_bytes


def main(argv):
    init_static, resp_static, init_eph, resp_eph, psk, timestamp = (bytes.fromhex(a) for a in argv[1:7])
    initiator = peer(True, init_static, public_of(resp_static), init_eph, psk)
    responder = peer(False, resp_static, None, resp_eph, psk)
    msg1 = initiator.write_message(timestamp)
    if responder.read_message(msg1) != timestamp:
        raise SystemExit("noiseprotocol: its own message 1 did not carry the timestamp")
    msg2 = responder.write_message(b"")
    initiator.read_message(msg2)
    enc = initiator.noise_protocol.cipher_state_encrypt.k
    dec = initiator.noise_protocol.cipher_state_decrypt.k
    print("msg1", bytes(msg1).hex())
    print("msg2", bytes(msg2).hex())
    print("initiator_send", enc.hex())
    print("initiator_receive", dec.hex())
    print("hash", initiator.get_handshake_hash().hex())
    if len(argv) > 8:
        their1, their2 = bytes.fromhex(argv[7]), bytes.fromhex(argv[8])
        # A fresh pair reads the other implementation's messages.
        reader = peer(False, resp_static, None, resp_eph, psk)
        print("their_timestamp", bytes(reader.read_message(their1)).hex())
        writer = peer(True, init_static, public_of(resp_static), init_eph, psk)
        writer.write_message(timestamp)
        print("their_response_payload_len", len(writer.read_message(their2)))


if __name__ == "__main__":
    main(sys.argv)
