import ParkGuardCore
import Testing

@Suite("Annunciation figures")
struct AnnunciationWindowTests {
    @Test("no figures before the first press")
    func emptyHasNoFigures() {
        #expect(AnnunciationWindow().figures == nil)
    }

    @Test("percentiles and maximum are taken over the recorded presses, in milliseconds")
    func percentiles() throws {
        var window = AnnunciationWindow()
        for micros in 1 ... 100 { window.record(.microseconds(micros * 10)) }
        let figures = try #require(window.figures)
        #expect(figures.presses == 100)
        #expect(figures.window == 100)
        #expect(abs(figures.p50Ms - 0.51) < 0.011)
        #expect(abs(figures.p99Ms - 0.99) < 0.011)
        #expect(figures.maxMs == 1.0)
    }

    @Test("the window keeps the most recent 1,024 presses; the count keeps them all")
    func ringKeepsTheRecent() throws {
        var window = AnnunciationWindow()
        for _ in 0 ..< 2000 { window.record(.seconds(1)) }
        for _ in 0 ..< AnnunciationWindow.capacity { window.record(.microseconds(50)) }
        let figures = try #require(window.figures)
        #expect(figures.presses == UInt64(2000 + AnnunciationWindow.capacity))
        #expect(figures.window == AnnunciationWindow.capacity)
        #expect(figures.maxMs == 0.05, "the slow presses have left the window")
    }
}
