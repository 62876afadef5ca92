from nst3d.cli import main

main()
