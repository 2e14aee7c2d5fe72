public enum CulvertTestingPlaceholder {}
