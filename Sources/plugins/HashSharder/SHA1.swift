// SHA-1 (FIPS 180-4), small and allocation-free: the `sha1` hasher needs only the first 8 bytes
// of the digest of short keys, so this favours simplicity over speed. Pure code.

struct SHA1Digest: Equatable {
    var h0: UInt32, h1: UInt32, h2: UInt32, h3: UInt32, h4: UInt32

    /// The first 8 digest bytes read as a big-endian integer.
    var prefix64: UInt64 { UInt64(h0) << 32 | UInt64(h1) }

    /// The usual 40-character lower-case hex form (allocates; for logs and tests).
    var hex: String {
        var out = ""
        for word in [h0, h1, h2, h3, h4] {
            let digits = String(word, radix: 16)
            out += String(repeating: "0", count: 8 - digits.count) + digits
        }
        return out
    }
}

/// SHA-1 of `data`.
func sha1(_ data: UnsafeRawBufferPointer) -> SHA1Digest {
    var state = SHA1Digest(h0: 0x6745_2301, h1: 0xEFCD_AB89, h2: 0x98BA_DCFE, h3: 0x1032_5476, h4: 0xC3D2_E1F0)
    let count = data.count
    var offset = 0
    while count - offset >= 64 {
        sha1Block(&state, UnsafeRawBufferPointer(rebasing: data[offset..<offset + 64]))
        offset += 64
    }
    // Tail, 0x80, zeros, then the bit length as a big-endian 64-bit integer: one or two blocks.
    var tail: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
               UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
        = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &tail) { buffer in
        let rest = count - offset
        for i in 0..<rest { buffer[i] = data[offset + i] }
        buffer[rest] = 0x80
        let blocks = rest + 1 + 8 <= 64 ? 1 : 2
        let bitLength = UInt64(count) &* 8
        let end = blocks * 64
        for i in 0..<8 { buffer[end - 1 - i] = UInt8(truncatingIfNeeded: bitLength >> (8 * UInt64(i))) }
        let bytes = UnsafeRawBufferPointer(buffer)
        sha1Block(&state, UnsafeRawBufferPointer(rebasing: bytes[0..<64]))
        if blocks == 2 { sha1Block(&state, UnsafeRawBufferPointer(rebasing: bytes[64..<128])) }
    }
    return state
}

@inline(__always)
private func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }

/// One 64-byte block; the message schedule is kept as a rolling window of 16 words.
private func sha1Block(_ state: inout SHA1Digest, _ block: UnsafeRawBufferPointer) {
    var schedule: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                   UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)
        = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &schedule) { raw in
        let w = raw.bindMemory(to: UInt32.self)
        for i in 0..<16 {
            w[i] = UInt32(block[4 * i]) << 24 | UInt32(block[4 * i + 1]) << 16
                | UInt32(block[4 * i + 2]) << 8 | UInt32(block[4 * i + 3])
        }
        var a = state.h0, b = state.h1, c = state.h2, d = state.h3, e = state.h4
        for t in 0..<80 {
            let word: UInt32
            if t < 16 {
                word = w[t]
            } else {
                word = rotl(w[(t - 3) & 15] ^ w[(t - 8) & 15] ^ w[(t - 14) & 15] ^ w[t & 15], 1)
                w[t & 15] = word
            }
            let f: UInt32, k: UInt32
            switch t {
            case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
            case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
            case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
            default: f = b ^ c ^ d; k = 0xCA62_C1D6
            }
            let temp = rotl(a, 5) &+ f &+ e &+ k &+ word
            e = d; d = c; c = rotl(b, 30); b = a; a = temp
        }
        state.h0 &+= a; state.h1 &+= b; state.h2 &+= c; state.h3 &+= d; state.h4 &+= e
    }
}
