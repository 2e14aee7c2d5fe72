public enum CulvertClientPlaceholder {}
