/// A single-board computer's GPIO header: the chip that carries it and which physical header pin
/// is which line, so a configuration can say `pin: 11` and mean the same wire on every unit.
///
/// Line offsets are the kernel's for the chip named here (`gpioinfo` lists them); they were taken
/// from each board's published pinout. Check a new board revision against `gpioinfo` before use.
public struct BoardProfile: Sendable, Equatable {
    /// The name used in `gpio.board`.
    public var name: String
    public var title: String
    /// The label of the GPIO chip that carries the header (`gpiodetect` shows it).
    public var chip: String
    /// Physical header pin → line offset on ``chip``, for the pins that are GPIOs.
    public var lines: [Int: Int]
    /// Physical header pins that are not usable GPIOs, with what they are.
    public var reserved: [Int: String]
    /// The number of header pins.
    public var headerPins: Int

    /// The line of a physical header pin, or why there is none.
    public func line(forPin pin: Int) -> Result<Int, BoardPinError> {
        if let line = lines[pin] { return .success(line) }
        if let what = reserved[pin] { return .failure(BoardPinError("pin \(pin) of the \(title) header is \(what), not a GPIO")) }
        return .failure(BoardPinError("the \(title) header has pins 1 to \(headerPins); \(pin) is not one of them"))
    }

    /// Every profile ParkGuard ships.
    public static let all: [BoardProfile] = [raspberryPi4, raspberryPi5, orangePiZero]

    public static func named(_ name: String) -> BoardProfile? { all.first { $0.name == name } }

    /// The 40-pin Raspberry Pi header: physical pin → BCM GPIO number (the line offset on both the
    /// BCM2711 and the RP1 chip).
    static let raspberryPiHeader: [Int: Int] = [
        3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10, 21: 9, 22: 25,
        23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19, 36: 16, 37: 26, 38: 20, 40: 21,
    ]
    static let raspberryPiPower: [Int: String] = [
        1: "3.3 V power", 17: "3.3 V power", 2: "5 V power", 4: "5 V power",
        6: "ground", 9: "ground", 14: "ground", 20: "ground", 25: "ground", 30: "ground", 34: "ground", 39: "ground",
    ]

    public static let raspberryPi4 = BoardProfile(
        name: "raspberry-pi-4", title: "Raspberry Pi 4", chip: "pinctrl-bcm2711",
        lines: raspberryPiHeader, reserved: raspberryPiPower, headerPins: 40)

    /// On the Pi 5 the header is on the RP1 south bridge, a different chip from the SoC's.
    public static let raspberryPi5 = BoardProfile(
        name: "raspberry-pi-5", title: "Raspberry Pi 5", chip: "pinctrl-rp1",
        lines: raspberryPiHeader, reserved: raspberryPiPower, headerPins: 40)

    /// Orange Pi Zero (Allwinner H2+): the 26-pin header is on the main PIO, line = bank × 32 + pin
    /// (PA = 0, PC = 2, PG = 6).
    public static let orangePiZero = BoardProfile(
        name: "orange-pi-zero", title: "Orange Pi Zero", chip: "1c20800.pinctrl",
        lines: [3: 12, 5: 11, 7: 6, 8: 198, 10: 199, 11: 1, 12: 7, 13: 0, 15: 3, 16: 19, 18: 18, 19: 64, 21: 65, 22: 2,
                23: 66, 24: 67, 26: 10],
        reserved: [1: "3.3 V power", 17: "3.3 V power", 2: "5 V power", 4: "5 V power", 6: "ground", 9: "ground",
                   14: "ground", 20: "ground", 25: "ground"],
        headerPins: 26)
}

/// Why a header pin cannot be used.
public struct BoardPinError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
