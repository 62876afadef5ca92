from nst3d.console import main

main()
