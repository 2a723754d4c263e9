// One plugin: sbt-assembly builds the single shaded jar that the Python wheel carries.
addSbtPlugin("com.eed3si9n" % "sbt-assembly" % "2.3.1")
