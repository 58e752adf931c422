// ConfigCheck: validation of main.cf and master.cf values for `postfix check`.
import Global
