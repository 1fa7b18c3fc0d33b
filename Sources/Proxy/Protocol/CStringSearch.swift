#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

extension UnsafeRawBufferPointer {
    /// Index of the first NUL in `start..<end` (the end of a C string in a message), or `end`
    /// when there is none. memchr looks at many bytes at once: statement texts are long.
    @inline(__always)
    func indexOfNUL(from start: Int, before end: Int) -> Int {
        guard start < end, let base = baseAddress, let found = memchr(base + start, 0, end - start) else { return Swift.max(start, end) }
        return base.distance(to: UnsafeRawPointer(found))
    }
}
