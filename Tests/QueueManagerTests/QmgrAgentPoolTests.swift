// QmgrAgentPoolTests: which kept delivery-agent connections qmgr takes
// again and which it closes (ipc_idle, ipc_ttl), and the final reply's
// offer to keep its connection.
import XCTest
import Glibc
@testable import Util
@testable import Global
@testable import qmgr

final class QmgrAgentPoolTests: XCTestCase {
    /// One end of a socket pair as a Stream, the other end's descriptor.
    private func pair() -> (Util.Stream, Int32) {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        return (Util.Stream(fd: fds[0]), fds[1])
    }

    private func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) >= 0 }

    func testTakesWhatItKeptPerTransport() {
        var pool = QmgrAgentPool(idleLimit: 5, lifeLimit: 1000)
        let (a, peerA) = pair()
        defer { close(peerA) }
        XCTAssertNil(pool.take("discard", now: 100))
        pool.put("discard", stream: a, opened: 90, now: 100)
        XCTAssertEqual(pool.descriptors, [a.fd])
        XCTAssertNil(pool.take("smtp", now: 101), "kept for its own transport only")
        let taken = pool.take("discard", now: 101)
        XCTAssertTrue(taken?.stream === a)
        XCTAssertEqual(taken?.opened, 90)
        XCTAssertEqual(pool.count, 0)
        a.close()
    }

    func testIdleAndLifeLimitsClose() {
        var pool = QmgrAgentPool(idleLimit: 5, lifeLimit: 1000)
        let (idle, peer1) = pair()
        let (old, peer2) = pair()
        let (fresh, peer3) = pair()
        defer { close(peer1); close(peer2); close(peer3) }
        let idleFD = idle.fd, oldFD = old.fd
        pool.put("discard", stream: idle, opened: 0, now: 10)       // unused since 10
        pool.put("discard", stream: old, opened: 0, now: 1000)      // lived too long by 1001
        pool.put("discard", stream: fresh, opened: 995, now: 1000)
        XCTAssertEqual(pool.nextExpiry, 15)
        pool.expire(now: 1001)
        XCTAssertFalse(isOpen(idleFD))
        XCTAssertFalse(isOpen(oldFD))
        XCTAssertEqual(pool.descriptors, [fresh.fd])
        XCTAssertNil(pool.take("discard", now: 1006), "past ipc_idle when taken: closed, not given out")
        XCTAssertEqual(pool.count, 0)
    }

    func testConnectionPastItsLifeIsNotKept() {
        var pool = QmgrAgentPool(idleLimit: 5, lifeLimit: 100)
        let (s, peer) = pair()
        defer { close(peer) }
        let fd = s.fd
        pool.put("discard", stream: s, opened: 0, now: 100)
        XCTAssertEqual(pool.count, 0)
        XCTAssertFalse(isOpen(fd))
    }

    func testDropClosesOne() {
        var pool = QmgrAgentPool(idleLimit: 5, lifeLimit: 1000)
        let (a, peerA) = pair()
        let (b, peerB) = pair()
        defer { close(peerA); close(peerB) }
        let aFD = a.fd
        pool.put("discard", stream: a, opened: 0, now: 1)
        pool.put("error", stream: b, opened: 0, now: 1)
        pool.drop(fd: aFD)
        XCTAssertFalse(isOpen(aFD))
        XCTAssertEqual(pool.descriptors, [b.fd])
        b.close()
    }

    func testFinalReplyOffersKeep() throws {
        XCTAssertFalse(DeliveryReply.offersKeep(DeliveryReply.final(status: 0)))
        let keep = DeliveryReply.final(status: 0, keep: true)
        XCTAssertTrue(DeliveryReply.offersKeep(keep))
        XCTAssertNil(try DeliveryReply.decode(keep), "still the final list, not a recipient reply")
        XCTAssertEqual(keep.encoded(), Array("status\u{0}0\u{0}text\u{0}\u{0}keep\u{0}1\u{0}\u{0}".utf8))
    }
}
