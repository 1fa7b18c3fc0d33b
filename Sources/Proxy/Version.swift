public enum ProxyVersion { public static let string = "0.1.0" }
